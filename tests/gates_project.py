"""A small real project (src layout, pytest suite) in a fresh git repository, for the gate tests."""
from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

FILES = {
    "pyproject.toml": """
        [project]
        name = "shop"
        version = "0.1"

        [tool.pytest.ini_options]
        pythonpath = ["src"]
        """,
    "src/shop/__init__.py": '"""A tiny shop."""\n',
    "src/shop/prices.py": """
        def total(prices):
            return round(sum(prices), 2)


        def discounted(price, percent):
            return round(price * (100 - percent) / 100, 2)
        """,
    "src/shop/cart.py": """
        from .prices import total


        class Cart:
            def __init__(self):
                self.items = []

            def add(self, name, price):
                self.items.append((name, price))

            def value(self):
                return total(p for _n, p in self.items)
        """,
    "src/shop/banner.py": """
        def banner(name):
            return f"Welcome to {name}"
        """,
    "tests/test_prices.py": """
        from shop.prices import discounted, total


        def test_total():
            assert total([1.5, 2.25]) == 3.75


        def test_discounted():
            assert discounted(200, 25) == 150
        """,
    "tests/test_cart.py": """
        from shop.cart import Cart


        def test_cart_value():
            cart = Cart()
            cart.add("tea", 2.5)
            cart.add("cake", 3.0)
            assert cart.value() == 5.5
        """,
    "tests/test_banner.py": """
        from shop.banner import banner


        def test_banner():
            assert banner("Bob's") == "Welcome to Bob's"
        """,
}


def git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True)
    return done.stdout


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def make_project(root: Path, files: dict[str, str] | None = None, commit: bool = True) -> Path:
    """Write the project into ``root`` (a git repository with one commit unless ``commit`` is false)."""
    root.mkdir(parents=True, exist_ok=True)
    for rel, text in {**FILES, **(files or {})}.items():
        write(root, rel, text)
    if commit:
        git(root, "init", "-q", "-b", "main")
        git(root, "config", "user.name", "Test Person")
        git(root, "config", "user.email", "test@example.com")
        git(root, "config", "commit.gpgsign", "false")
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "Initial shop")
    return root
