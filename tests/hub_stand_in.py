"""A loopback stand-in for the few Hub HTTP endpoints that pushing and downloading a repository use.

It speaks what `huggingface_hub` sends (read from its `hf_api.py`, `_commit_api.py` and `file_download.py`):
`create_repo` (POST /api/repos/create), `upload_folder`/`create_commit` (POST /api/validate-yaml,
POST /api/{type}s/{repo}/preupload/{rev}, POST /api/{type}s/{repo}/commit/{rev} with an NDJSON body), and
`hf_hub_download` (HEAD/GET /[{type}s/]{repo}/resolve/{rev}/{path}), plus repo info and tree listings.
Like the Hub, preupload answers "lfs" for the patterns of the Hub's default `.gitattributes` (weights,
parquet, ...) and for large files: those go through the LFS batch API (POST /{repo}.git/info/lfs/objects/batch,
then one PUT per object, "basic" transfer); the others travel base64 inside the commit. There is no Xet:
clients need `HF_HUB_DISABLE_XET=1`. Only 127.0.0.1 on a free port; request bodies are capped; requests it
does not know are answered 404 and recorded in `unknown`.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

MAX_BODY = 256 * 2**20
LFS_PATTERNS = ("*.safetensors", "*.bin", "*.pt", "*.pth", "*.ckpt", "*.h5", "*.onnx", "*.pkl", "*.npy", "*.npz",
                "*.parquet", "*.arrow", "*.wav", "*.flac", "*.mp3", "*.zip", "*.tar", "*.gz")  # fmt: skip
LFS_SIZE = 10 * 2**20
REPO = r"(?P<repo>[\w.-]+/[\w.-]+)"
API = re.compile(rf"^/api/(?P<type>models|datasets)/{REPO}(?:/(?P<action>preupload|commit|revision|tree|paths-info)"
                 r"(?:/(?P<rev>[^/]+)(?P<path>/.*)?)?)?$")  # fmt: skip
LFS_BATCH = re.compile(rf"^/(?:datasets/)?{REPO}\.git/info/lfs/objects/batch$")
LFS_UPLOAD = re.compile(r"^/lfs-upload/(?P<oid>[0-9a-f]{64})$")
RESOLVE = re.compile(rf"^/(?:(?P<type>datasets)/)?{REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)$")


class Repository:
    def __init__(self, repo_type: str, repo_id: str) -> None:
        self.type, self.id = repo_type, repo_id
        self.files: dict[str, bytes] = {}
        self.commits: list[str] = []

    @property
    def sha(self) -> str:
        return self.commits[-1] if self.commits else "0" * 40


class HubStandIn:
    """`with HubStandIn() as hub:` serves on `hub.url` until the block ends; `hub.repos[(type, id)].files`."""

    def __init__(self) -> None:
        self.repos: dict[tuple[str, str], Repository] = {}
        self.lfs_objects: dict[str, bytes] = {}  # sha256 -> content
        self.requests: list[str] = []
        self.unknown: list[str] = []
        self.lock = threading.Lock()

    def __enter__(self) -> HubStandIn:
        hub = self

        class Handler(_Handler):
            stand_in = hub

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def repo(self, repo_type: str, repo_id: str) -> Repository | None:
        return self.repos.get((repo_type.rstrip("s"), repo_id))


class _Handler(BaseHTTPRequestHandler):
    stand_in: HubStandIn
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args) -> None:  # quiet: requests are recorded instead
        pass

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        hub = self.stand_in
        path = unquote(urlsplit(self.path).path)
        with hub.lock:
            hub.requests.append(f"{self.command} {path}")
            body = self._body()
            if body is None:
                return self._json({"error": "request body too large"}, 413)
            if self.command == "POST" and path == "/api/repos/create":
                return self._create(json.loads(body))
            if path == "/api/agent-harnesses":  # huggingface_hub's agent detection: an empty registry
                return self._json({"standardEnvVars": [], "harnesses": {}})
            if self.command == "POST" and path == "/api/validate-yaml":
                return self._json({"errors": [], "warnings": []})
            if match := LFS_BATCH.match(path):
                return self._lfs_batch(json.loads(body))
            if (match := LFS_UPLOAD.match(path)) and self.command == "PUT":
                return self._lfs_upload(match["oid"], body)
            if match := API.match(path):
                return self._api(match, body)
            if (match := RESOLVE.match(path)) and self.command in ("GET", "HEAD"):
                return self._resolve(match)
            hub.unknown.append(f"{self.command} {self.path}")
            return self._json({"error": f"stand-in: unknown endpoint {path}"}, 404)

    def _body(self) -> bytes | None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks, total = [], 0
            while size := int(self.rfile.readline().split(b";")[0], 16):
                total += size
                if total > MAX_BODY:
                    return None
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return None if length > MAX_BODY else self.rfile.read(length)

    def _create(self, payload: dict) -> None:
        repo_type = payload.get("type") or "model"
        repo_id = f"{payload['organization']}/{payload['name']}" if payload.get("organization") else payload["name"]
        prefix = "" if repo_type == "model" else f"{repo_type}s/"
        url = {"url": f"{self.stand_in.url}/{prefix}{repo_id}"}
        if (repo_type, repo_id) in self.stand_in.repos:
            return self._json({"error": "You already created this repo", **url}, 409)
        self.stand_in.repos[(repo_type, repo_id)] = Repository(repo_type, repo_id)
        return self._json(url)

    def _api(self, match: re.Match, body: bytes) -> None:
        repo = self.stand_in.repo(match["type"], match["repo"])
        if repo is None:
            return self._json({"error": "Repository not found"}, 404, {"X-Error-Code": "RepoNotFound"})
        action = match["action"]
        if action == "preupload":
            files = json.loads(body)["files"]
            modes = [{"path": f["path"], "uploadMode": _mode(f), "shouldIgnore": False, "oid": None} for f in files]
            return self._json({"files": modes})
        if action == "commit":
            return self._commit(repo, body)
        if action == "tree":
            return self._tree(repo, (match["path"] or "").strip("/"))
        if action == "paths-info":
            wanted = json.loads(body or b"{}").get("paths", [])
            return self._json([self._entry(p, repo.files[p]) for p in wanted if p in repo.files])
        siblings = [{"rfilename": path} for path in sorted(repo.files)]  # repo info, optionally at a revision
        return self._json({"id": repo.id, "sha": repo.sha, "siblings": siblings, "private": False, "tags": []})

    def _commit(self, repo: Repository, body: bytes) -> None:
        for line in body.splitlines():
            item = json.loads(line)
            value = item["value"]
            if item["key"] == "file" and value.get("encoding") == "base64":
                repo.files[value["path"]] = base64.b64decode(value["content"])
            elif item["key"] == "lfsFile" and value["oid"] in self.stand_in.lfs_objects:
                repo.files[value["path"]] = self.stand_in.lfs_objects[value["oid"]]
            elif item["key"] in ("deletedFile", "deletedFolder"):
                gone = item["value"]["path"].rstrip("/")
                repo.files = {p: c for p, c in repo.files.items() if p != gone and not p.startswith(gone + "/")}
            elif item["key"] != "header":
                return self._json({"error": f"stand-in: commit entry {item['key']!r} not supported"}, 400)
        repo.commits.append(hashlib.sha1(repo.sha.encode() + body).hexdigest())  # a 40-hex id, like git's
        prefix = "" if repo.type == "model" else f"{repo.type}s/"
        commit_url = f"{self.stand_in.url}/{prefix}{repo.id}/commit/{repo.sha}"
        return self._json({"commitUrl": commit_url, "commitOid": repo.sha, "pullRequestUrl": None})

    def _resolve(self, match: re.Match) -> None:
        repo = self.stand_in.repo(match["type"] or "models", match["repo"])
        if repo is None:
            return self._json({"error": "Repository not found"}, 404, {"X-Error-Code": "RepoNotFound"})
        content = repo.files.get(match["path"])
        if content is None:
            return self._json({"error": "Entry not found"}, 404, {"X-Error-Code": "EntryNotFound"})
        headers = {"X-Repo-Commit": repo.sha, "ETag": f'"{hashlib.sha256(content).hexdigest()}"'}
        return self._send(content, 200, "application/octet-stream", headers)

    def _lfs_batch(self, payload: dict) -> None:
        objects = []
        for item in payload["objects"]:
            entry = {"oid": item["oid"], "size": item["size"]}
            if item["oid"] not in self.stand_in.lfs_objects:  # no actions: the object is already stored
                entry["actions"] = {"upload": {"href": f"{self.stand_in.url}/lfs-upload/{item['oid']}"}}
            objects.append(entry)
        return self._json({"transfer": "basic", "objects": objects})

    def _lfs_upload(self, oid: str, body: bytes) -> None:
        if hashlib.sha256(body).hexdigest() != oid:
            return self._json({"error": "stand-in: content does not match its sha256"}, 400)
        self.stand_in.lfs_objects[oid] = body
        return self._json({})

    def _tree(self, repo: Repository, folder: str) -> None:
        """The files (recursive) or the files and folders (not) under `folder`; 404 where there is none."""
        prefix = f"{folder}/" if folder else ""
        below = {p: c for p, c in repo.files.items() if p.startswith(prefix)}
        if folder and not below:
            return self._json({"error": "Entry not found"}, 404, {"X-Error-Code": "EntryNotFound"})
        if "recursive=true" in urlsplit(self.path).query.lower():
            return self._json([self._entry(p, c) for p, c in sorted(below.items())])
        entries, folders = [], set()
        for path, content in sorted(below.items()):
            child = path[len(prefix) :].split("/")[0]
            if "/" not in path[len(prefix) :]:
                entries.append(self._entry(path, content))
            elif child not in folders:
                folders.add(child)
                entries.append({"type": "directory", "path": prefix + child, "size": 0, "oid": "0" * 40})
        return self._json(entries)

    @staticmethod
    def _entry(path: str, content: bytes) -> dict:
        return {"type": "file", "path": path, "size": len(content), "oid": hashlib.sha1(content).hexdigest()}

    def _json(self, value, status: int = 200, headers: dict | None = None) -> None:
        self._send(json.dumps(value).encode(), status, "application/json", headers or {})

    def _send(self, content: bytes, status: int, content_type: str, headers: dict) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(content)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(content)


def _mode(file: dict) -> str:
    """The Hub's choice for one preupload entry: LFS for the default `.gitattributes` patterns and large files."""
    name = file["path"].rsplit("/", 1)[-1]
    large = file["size"] >= LFS_SIZE
    return "lfs" if large or any(fnmatch.fnmatch(name, pattern) for pattern in LFS_PATTERNS) else "regular"
