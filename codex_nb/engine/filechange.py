"""Repository files a proposal patches: planned in memory, written atomically, restored byte for byte.

Notebooks are never patched as files: a notebook changes only through cell
edits, so a ``patch_file`` whose path is a notebook is refused before anything
is written.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..edits.files import plan_file_edits
from ..errors import EditRefused
from ..notebook_io import atomic_write_bytes


def refuse_notebook_patches(file_edits) -> None:
    for edit in file_edits:
        if edit.path.lower().endswith(".ipynb"):
            raise EditRefused(f"{edit.path} is a notebook; notebooks change only through cell edits",
                              hint="ask for insert / replace / delete cell edits instead of a file patch", path=edit.path)


@dataclass
class FileChange:
    root: Path
    plan: dict[Path, tuple[bytes | None, bytes]] = field(default_factory=dict)  # path -> (old or None, new)
    written: list[Path] = field(default_factory=list)

    @classmethod
    def planned(cls, root, file_edits) -> "FileChange":
        refuse_notebook_patches(file_edits)
        return cls(Path(root), plan_file_edits(root, tuple(file_edits)) if file_edits else {})

    @property
    def paths(self) -> list[Path]:
        return list(self.plan)

    def relative(self) -> list[str]:
        return [p.relative_to(self.root.resolve()).as_posix() for p in self.plan]

    def recheck(self) -> None:
        """Under the lock: refuse when a file changed since it was planned (another apply got there first)."""
        for path, (old, _new) in self.plan.items():
            now = path.read_bytes() if path.exists() else None
            if now != old:
                raise EditRefused(f"{path.name} changed while the change was being prepared",
                                  hint="ask again so the patch is made against the current file", path=str(path))

    def write(self) -> None:
        """Write every planned file; on any failure put back the ones already written."""
        from .appliers import clean_stale_temporaries

        for path in self.plan:  # under the lock: what a killed earlier write left behind goes now
            clean_stale_temporaries(path)
        try:
            for path, (_old, new) in self.plan.items():
                path.parent.mkdir(parents=True, exist_ok=True)
                self.written.append(path)
                atomic_write_bytes(path, new)
        except BaseException:
            self.restore()
            raise

    def restore(self) -> list[str]:
        """Put every written file back exactly; returns the paths that could not be restored (expected: none)."""
        failed = []
        for path in self.written:
            old = self.plan[path][0]
            try:
                if old is None:
                    path.unlink(missing_ok=True)
                else:
                    atomic_write_bytes(path, old)
                now = path.read_bytes() if path.exists() else None
                if now != old:
                    failed.append(str(path))
            except OSError:
                failed.append(str(path))
        self.written = [p for p in self.written if str(p) in failed]
        return failed
