"""Files ranked after the ones shown with code get an outline: their most relevant signature lines,
real lines of the file with their line numbers, redacted, within the budget."""
from __future__ import annotations

from codex_nb.context import build_context
from codex_nb.context.snippets import OUTLINE_MARK
from codex_nb.repomap.sent import code_blocks


def make_repo(root, n=30):
    body = "\n".join(f"        total_{k} = invoice_amount * {k}" for k in range(60))
    for k in range(n):
        (root / f"billing_{k:02d}.py").write_text(
            f'"""Billing step {k}."""\n\n\nclass Invoice{k}:\n    def invoice_total_{k}(self, invoice_amount):\n'
            f"{body}\n        return total_0\n\n\ndef unrelated_{k}():\n    return None\n")
    (root / "keys.py").write_text('def invoice_signer(invoice_amount, token="sk-live-4f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c"):\n'
                                  "    return invoice_amount\n")


def test_lower_ranked_files_show_their_signatures_not_their_bodies(tmp_path):
    make_repo(tmp_path)
    ctx = build_context(query="invoice amount total", repo=tmp_path, budget=6000, use_cache=False)
    blocks = code_blocks(ctx.section("repository").text)
    with_code = [p for p, t in blocks.items() if not t.startswith(OUTLINE_MARK)]
    outlines = {p: t for p, t in blocks.items() if t.startswith(OUTLINE_MARK)}
    assert with_code and outlines, blocks.keys()
    assert len(blocks) > len(with_code)  # more files are visible than fit with their code
    path, text = next((p, t) for p, t in outlines.items() if p.startswith("billing_"))
    k = int(path[8:10])
    assert f"    def invoice_total_{k}(self, invoice_amount):  # line 5" in text.splitlines()
    assert f"class Invoice{k}:  # line 4" in text.splitlines()  # the method's class, for context
    assert "total_1 = " not in text  # no bodies in an outline
    assert ctx.section("repository").tokens <= ctx.budget


def test_outlines_are_redacted_and_the_budget_holds(tmp_path):
    make_repo(tmp_path, n=3)
    ctx = build_context(query="invoice signer token", repo=tmp_path, budget=1500, use_cache=False)
    text = ctx.render()
    assert "sk-live-4f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c" not in text
    assert ctx.total_tokens <= ctx.budget


def test_no_match_gets_no_outlines(tmp_path):
    for k in range(25):
        (tmp_path / f"mod_{k:02d}.py").write_text(f"def f{k}():\n    return {k}\n")
    ctx = build_context(query="zzqx nothing matches this", repo=tmp_path, use_cache=False)
    assert OUTLINE_MARK not in ctx.render() and len(ctx.files) == 20
