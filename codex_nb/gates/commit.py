"""Kept changes as git commits, and their undo as revert commits.

A commit holds exactly the files the change touched. It is built in a temporary
index (``GIT_INDEX_FILE``) from HEAD plus those files, so whatever the user has
staged stays staged and nothing else is included; afterwards only the touched
paths of the user's index are brought up to the new HEAD. The commit is made with
plumbing (``commit-tree`` and a compare-and-swap ``update-ref``), so git hooks do
not run: the project's declared checks are the gates for a kept change.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
from pathlib import Path

from ..errors import CodexError

GIT_TIMEOUT = 60


class GitProblem(CodexError):
    """git cannot do what a kept change or an undo needs (not a repository, no identity, git missing)."""


class DirtyFiles(CodexError):
    """Files the change would commit have changes of the user's that are not committed."""


class CommitRefused(GitProblem):
    """An offered commit (``commit = "ask"``) that would no longer be the change that was kept."""


def _git(root: str | os.PathLike, *args: str, env: dict | None = None, input: bytes | None = None,
         check: bool = True) -> subprocess.CompletedProcess:
    full_env = dict(os.environ if env is None else env)
    full_env["GIT_LITERAL_PATHSPECS"] = "1"  # a file named "*.py" is that file, not a pattern
    full_env.setdefault("GIT_TERMINAL_PROMPT", "0")
    try:
        done = subprocess.run(["git", *args], cwd=os.fspath(root), env=full_env, input=input, capture_output=True,
                              timeout=GIT_TIMEOUT)
    except FileNotFoundError:
        raise GitProblem("git is not installed", hint="install git, or set c.CodexNB.commit = 'off'") from None
    except subprocess.TimeoutExpired:
        raise GitProblem(f"git {args[0]} did not finish in {GIT_TIMEOUT} s", hint="check the repository with git status") from None
    if check and done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip() or f"git {args[0]} failed"
        hint = "check the repository with git status"
        if "tell me who you are" in message or "user.email" in message:
            hint = 'set an identity: git config user.name "Your Name" && git config user.email you@example.com'
        raise GitProblem(f"git {args[0]}: {message.splitlines()[-1] if message else ''}".strip(), hint=hint,
                         returncode=done.returncode)
    return done


def _out(done: subprocess.CompletedProcess) -> str:
    return done.stdout.decode("utf-8", "replace").strip()


def git_toplevel(repo_root: str | os.PathLike) -> Path:
    """The work tree that contains ``repo_root``; GitProblem outside a git repository."""
    if not Path(repo_root).is_dir():
        raise GitProblem(f"{repo_root} is not a directory", hint="give the repository root")
    done = _git(repo_root, "rev-parse", "--show-toplevel", check=False)
    if done.returncode != 0:
        raise GitProblem(f"{repo_root} is not inside a git repository, so a kept change cannot become a commit",
                         hint="run git init there, or set c.CodexNB.commit = 'off'", path=str(repo_root))
    return Path(_out(done))


def _head(root) -> str | None:
    done = _git(root, "rev-parse", "--verify", "-q", "HEAD^{commit}", check=False)
    return _out(done) if done.returncode == 0 else None


def check_clean(repo_root: str | os.PathLike, files: list[str], allow_dirty: bool = False) -> list[str]:
    """Refuse (DirtyFiles) when a file the change touches has uncommitted changes; return those files.

    Call it before the change is applied: a commit of such a file would also carry the
    user's own unfinished edits. With ``allow_dirty`` the files are returned instead.
    Untracked files count as dirty too; files that do not exist yet are clean.
    """
    top = git_toplevel(repo_root)
    if not files:
        return []
    done = _git(repo_root, "status", "--porcelain=v1", "-z", "--untracked-files=all", "--", *files)
    dirty = []
    entries = done.stdout.decode("utf-8", "replace").split("\0")
    i = 0
    while i < len(entries):
        entry = entries[i]
        i += 1
        if len(entry) < 4:
            continue
        if entry[0] in "RC":
            i += 1  # a rename or copy is followed by its source path
        dirty.append(entry[3:])
    dirty = _from_top(repo_root, top, dirty)
    if dirty and not allow_dirty:
        shown = ", ".join(sorted(dirty)[:5]) + (" …" if len(dirty) > 5 else "")
        raise DirtyFiles(f"uncommitted changes in {shown}: a commit of this change would include them",
                         hint="commit or stash them first, allow it (codex-nb apply --allow-dirty, c.CodexNB.commit_allow_dirty = True), "
                              "or keep this change without a commit (c.CodexNB.commit = 'off')", files=sorted(dirty))
    return sorted(dirty)


def _from_top(repo_root, top: Path, paths: list[str]) -> list[str]:
    """git prints paths relative to the work tree's top; the change names them relative to repo_root."""
    base = Path(repo_root).resolve()
    out = []
    for p in paths:
        try:
            out.append((top.resolve() / p).relative_to(base).as_posix())
        except ValueError:
            out.append(p)
    return out


def commit_message(explanation: str, trailers: dict[str, str] | list[tuple[str, str]]) -> str:
    """A subject line (the explanation's first sentence, at most 72 characters), the body, then trailers."""
    text = (explanation or "").strip()
    first, _, rest = text.partition("\n")
    subject = first.strip() or "Change by codex-nb"
    body = rest.strip()
    if len(subject) > 72:
        cut = subject[:72].rfind(" ")
        body = (subject + ("\n\n" + body if body else "")).strip()
        subject = subject[: cut if cut > 30 else 69].rstrip() + "…"
    items = trailers.items() if isinstance(trailers, dict) else trailers
    trailer_text = "\n".join(f"{k}: {' '.join(str(v).split())}" for k, v in items)
    return "\n\n".join(part for part in (subject, body, trailer_text) if part) + "\n"


def _with_index(repo_root, head: str | None):
    """An environment whose index is a fresh temporary file holding HEAD's tree."""
    fd, index = tempfile.mkstemp(prefix="codex-nb-index-")
    os.close(fd)
    os.unlink(index)  # git creates it; an empty file is not a valid index
    env = dict(os.environ, GIT_INDEX_FILE=index)
    if head:
        _git(repo_root, "read-tree", head, env=env)
    return env, index


def _commit_index(repo_root, env: dict, head: str | None, message: str) -> str:
    tree = _out(_git(repo_root, "write-tree", env=env))
    parents = ["-p", head] if head else []
    sha = _out(_git(repo_root, "commit-tree", tree, *parents, env=env, input=message.encode("utf-8")))
    # compare-and-swap: if HEAD moved since we read it, fail instead of dropping someone's commit
    _git(repo_root, "update-ref", "-m", "codex-nb: " + message.split("\n", 1)[0], "HEAD", sha, head or "")
    return sha


def commit_kept(repo_root: str | os.PathLike, files: list[str], message: str,
                trailers: dict[str, str] | list[tuple[str, str]] = ()) -> str:
    """Commit exactly ``files`` (repository-relative, as they are on disk now) and return the commit's sha.

    A file that no longer exists is committed as removed. The user's staging area is
    left as it was for every other path.
    """
    git_toplevel(repo_root)
    if not files:
        raise GitProblem("there is nothing to commit: the change touched no repository file",
                         hint="a change of the notebook alone is not committed")
    full = commit_message(message, trailers) if trailers else (message if message.endswith("\n") else message + "\n")
    head = _head(repo_root)
    env, index = _with_index(repo_root, head)
    try:
        _git(repo_root, "update-index", "--add", "--remove", "--", *files, env=env)
        sha = _commit_index(repo_root, env, head, full)
    finally:
        _unlink(index)
    _sync_user_index(repo_root, files)
    return sha


def file_digests(repo_root: str | os.PathLike, files: list[str]) -> dict[str, str | None]:
    """The sha256 of each file as it is now (None: it does not exist), to tell later whether it moved on."""
    out: dict[str, str | None] = {}
    for rel in files:
        path = Path(rel) if os.path.isabs(rel) else Path(repo_root) / rel
        try:
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
        except FileNotFoundError:
            out[rel] = None
    return out


def commit_as_kept(repo_root: str | os.PathLike, files: list[str], message: str,
                   hashes: dict[str, str | None]) -> str:
    """Commit ``files`` with ``message`` only while each is still what ``hashes`` say; return the sha.

    This is the later half of ``commit = "ask"``: the commit is made when the person says
    yes, and it must hold what was validated, so any file that changed since is a refusal.
    """
    git_toplevel(repo_root)
    moved = sorted(rel for rel, digest in file_digests(repo_root, files).items() if digest != hashes.get(rel))
    listed = " ".join(_quoted(f) for f in files)
    by_hand = f"commit by hand if you want it: git add -A -- {listed} && git commit"
    if moved:
        raise CommitRefused(f"{', '.join(moved)} changed after the change was kept, so a commit now would not be "
                            "the change that was validated", hint=by_hand, files=moved)
    if _same_as_head(repo_root, files):
        raise CommitRefused("there is nothing to commit: these files are already committed as the change left them",
                            hint="see git log -- " + listed)
    return commit_kept(repo_root, files, message)


def _same_as_head(repo_root, files: list[str]) -> bool:
    """Whether every file on disk is what HEAD already has (a removed file: absent from both)."""
    head = _head(repo_root)
    if head is None:
        return False
    for rel in files:
        entry = _entry(repo_root, head, rel)
        on_disk = (Path(repo_root) / rel).is_file()
        if entry is None or not on_disk:
            if entry is not None or on_disk:
                return False
            continue
        if _out(_git(repo_root, "hash-object", "--", rel)) != entry[1]:
            return False
    return True


def _quoted(path: str) -> str:
    import shlex

    return shlex.quote(path)


def _sync_user_index(repo_root, files: list[str]) -> None:
    """Make the user's index agree with the new HEAD for the committed paths (and only those)."""
    _git(repo_root, "reset", "-q", "HEAD", "--", *files, check=False)


def _unlink(path: str) -> None:
    for p in (path, path + ".lock"):
        try:
            os.unlink(p)
        except FileNotFoundError:
            pass


def commit_files(repo_root: str | os.PathLike, sha: str) -> list[str]:
    """The paths a commit changed, relative to ``repo_root``."""
    done = _git(repo_root, "diff-tree", "--no-commit-id", "--name-only", "-r", "-z", "--root", sha)
    return _from_top(repo_root, git_toplevel(repo_root), [p for p in done.stdout.decode("utf-8", "replace").split("\0") if p])


def revert_commit(repo_root: str | os.PathLike, sha: str, trailers: dict[str, str] | None = None) -> str:
    """Undo commit ``sha`` with a new commit that restores its files, in the tree and on disk; return its sha.

    Refused (GitProblem) when a file of that commit changed since — in a later commit or
    on disk — because restoring it would throw that work away.
    """
    git_toplevel(repo_root)
    full_sha = _out(_git(repo_root, "rev-parse", "--verify", "-q", f"{sha}^{{commit}}", check=False)) or ""
    if not full_sha:
        raise GitProblem(f"commit {sha} is not in this repository", hint="it may have been removed by a rebase or reset")
    head = _head(repo_root)
    if head is None or _git(repo_root, "merge-base", "--is-ancestor", full_sha, head, check=False).returncode != 0:
        raise GitProblem(f"commit {sha[:12]} is not part of the current branch", hint=f"revert it by hand: git revert {sha[:12]}")
    parent = _out(_git(repo_root, "rev-parse", "--verify", "-q", f"{full_sha}^", check=False)) or None
    files = commit_files(repo_root, full_sha)
    changed = _changed_since(repo_root, full_sha, head, files)
    if changed:
        raise GitProblem(f"{', '.join(changed)} changed after commit {full_sha[:12]}: undoing it would lose that work",
                         hint=f"revert it by hand: git revert {full_sha[:12]}", files=changed)
    subject = _out(_git(repo_root, "log", "-1", "--format=%s", full_sha))
    message = f'Revert "{subject}"\n\nThis reverts commit {full_sha}.\n'
    if trailers:
        message = commit_message(f'Revert "{subject}"\n\nThis reverts commit {full_sha}.', trailers)
    env, index = _with_index(repo_root, head)
    try:
        for rel in files:
            blob = _entry(repo_root, parent, rel) if parent else None
            if blob is None:
                _git(repo_root, "update-index", "--force-remove", "--", rel, env=env)
            else:
                mode, obj = blob
                _git(repo_root, "update-index", "--add", "--cacheinfo", f"{mode},{obj},{rel}", env=env)
        new = _commit_index(repo_root, env, head, message)
    finally:
        _unlink(index)
    _restore_work_tree(repo_root, new, files)
    return new


def _entry(repo_root, commit: str, rel: str) -> tuple[str, str] | None:
    done = _git(repo_root, "ls-tree", "-z", commit, "--", rel)
    line = done.stdout.decode("utf-8", "replace").split("\0")[0]
    if not line:
        return None
    meta, _path = line.split("\t", 1)
    mode, _kind, obj = meta.split()
    return mode, obj


def _changed_since(repo_root, sha: str, head: str, files: list[str]) -> list[str]:
    """Files whose content in HEAD or on disk is no longer what ``sha`` left."""
    later = _git(repo_root, "diff", "--name-only", "-z", sha, head, "--", *files).stdout.decode("utf-8", "replace")
    on_disk = _git(repo_root, "diff", "--name-only", "-z", sha, "--", *files).stdout.decode("utf-8", "replace")
    names = {p for p in (later + "\0" + on_disk).split("\0") if p}
    return sorted(_from_top(repo_root, git_toplevel(repo_root), sorted(names)))


def _restore_work_tree(repo_root, commit: str, files: list[str]) -> None:
    present = [rel for rel in files if _entry(repo_root, commit, rel) is not None]
    if present:
        _git(repo_root, "checkout", commit, "--", *present)  # index and work tree, byte-exact from the tree
    for rel in files:
        if rel not in present:
            try:
                (Path(repo_root) / rel).unlink()
            except FileNotFoundError:
                pass
    _sync_user_index(repo_root, files)
