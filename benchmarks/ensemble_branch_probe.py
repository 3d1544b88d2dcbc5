"""Probe (search EG5): each head of a functionals-ensemble screen scored alone and combined, on the validation
speakers of each fold, with the models the screen saved (the best validation epoch: optimistic, for comparing the
combinations only).

    python benchmarks/ensemble_branch_probe.py outputs/search/eg5/casia/tft_seed42
    python benchmarks/ensemble_branch_probe.py outputs/search/eg6/casia/tft_seed42 global   # single-clip screens
"""
import sys, copy, numpy as np, torch, datasets
sys.path.insert(0, '/work/search')
from training.data import lazy_split, speaker_statistics, SpeechEmotionCollator, select_folds
from training.functionals import fold_functionals
from training.arguments import DataArguments
from modeling_tft import TFTForAudioClassification, TFTFeatureExtractor
from sklearn.metrics import balanced_accuracy_score
torch.set_num_threads(1)
run = sys.argv[1]
per_speaker = sys.argv[2:] != ['global']
ds = datasets.load_from_disk(f'{run}/prepared')
args = DataArguments(protocol='leave_one_speaker_out', validation_speakers=1)
folds = select_folds(ds, args, 42)
res = {}
for fold in folds:
    model = TFTForAudioClassification.from_pretrained(f'{run}/fold_{fold.index}/model').eval()
    splits = [fold.splits[n] for n in ('train', 'validation', 'test')]
    fe = TFTFeatureExtractor(normalization='none') if per_speaker else TFTFeatureExtractor.from_pretrained(f'{run}/fold_{fold.index}/model')
    stats = speaker_statistics(datasets.concatenate_datasets(splits), fe) if per_speaker else None
    func = fold_functionals(splits, per_speaker=per_speaker)
    col = SpeechEmotionCollator(fe, train=False, speaker_statistics=stats, functionals=func)
    val = lazy_split(fold.splits['validation'])
    tl, fl, ys = [], [], []
    with torch.no_grad():
        for i in range(0, len(val), 32):
            b = col([val[j] for j in range(i, min(i + 32, len(val)))])
            out = model.tft(b['input_features'], attention_mask=b['attention_mask'])
            tl.append(model.classifier(out.pooler_output)); s = model.config.functionals_lr_scale
            fl.append(torch.nn.functional.linear(b['functionals'], model.functionals_classifier.weight * s, model.functionals_classifier.bias * s))
            ys.append(b['labels'])
    t, f, y = torch.cat(tl), torch.cat(fl), torch.cat(ys).numpy()
    row = {}
    for name, logits in (('tft', t), ('functionals', f), ('sum', t + f), ('0.5tft', 0.5 * t + f), ('0.25tft', 0.25 * t + f), ('probavg', t.softmax(-1) + f.softmax(-1))):
        row[name] = round(100 * balanced_accuracy_score(y, logits.argmax(-1).numpy()), 1)
    row['logit_std'] = (round(t.std().item(), 2), round(f.std().item(), 2))
    print(fold.index, row, flush=True)
