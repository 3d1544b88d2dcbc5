"""Probe (search EG3/EG5): a linear layer alone on speaker-standardised eGeMAPS functionals, trained with the
recipe's AdamW for 12 epochs of batches of 16 at several learning rates, scored on the screens' validation speakers
(CASIA, seed-42 folds). Needs outputs/search/sn0 (a screen's prepared corpus) and the openSMILE cache of
benchmarks/baselines.py.

    python benchmarks/linear_functionals_probe.py
"""
import sys, numpy as np, datasets, torch
sys.path.insert(0, '.')
from benchmarks.baselines import speaker_standardised
from dataset_scripts import make_folds
from sklearn.metrics import balanced_accuracy_score
torch.set_num_threads(1)
ds = datasets.load_from_disk('outputs/search/sn0/casia/tft_seed42/prepared')
d = np.load('outputs/opensmile_cache/casia_eGeMAPSv02.npz')
x = speaker_standardised(d['features'], np.array(ds['speaker'][:])).astype(np.float32); y = np.array(ds['label'][:])
folds = make_folds(ds.add_column('row', list(range(len(ds)))), 'leave_one_speaker_out', validation_speakers=1, seed=42)
for lr, epochs, dropout in ((2.5e-4, 12, 0.1), (2.5e-3, 12, 0.1), (1e-2, 12, 0.1), (2.5e-3, 12, 0.5)):
    vals = []
    for f in folds:
        tr = np.array(f.splits['train']['row']); va = np.array(f.splits['validation']['row'])
        torch.manual_seed(0)
        lin = torch.nn.Linear(88, 6); torch.nn.init.normal_(lin.weight, std=0.02); torch.nn.init.zeros_(lin.bias)
        opt = torch.optim.AdamW(lin.parameters(), lr=lr, weight_decay=0.05)
        xt, yt = torch.from_numpy(x[tr]), torch.from_numpy(y[tr])
        for e in range(epochs):
            for b in torch.randperm(len(tr)).split(16):
                loss = torch.nn.functional.cross_entropy(lin(torch.nn.functional.dropout(xt[b], dropout)), yt[b])
                opt.zero_grad(); loss.backward(); opt.step()
        pred = lin(torch.from_numpy(x[va])).argmax(-1).numpy()
        vals.append(balanced_accuracy_score(y[va], pred))
    print(lr, epochs, dropout, np.round(np.array(vals)*100, 1), round(100*np.mean(vals), 2))
