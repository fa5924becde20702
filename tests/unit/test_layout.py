"""The code's layers: imports run one way, from the command line down to the schemas."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Each package may import the ones after it, never one before it.
LAYERS = ["tgcorpus", "flows", "tasks", "storage", "schemas"]


def imported_packages(path: Path) -> set[str]:
    """The top-level project packages a module imports, at its top or inside functions."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return {name.split(".")[0] for name in names} & set(LAYERS)


def upward_imports() -> list[str]:
    found = []
    for layer, package in enumerate(LAYERS):
        for module in sorted((ROOT / package).rglob("*.py")):
            for imported in imported_packages(module):
                if LAYERS.index(imported) < layer:
                    found.append(f"{module.relative_to(ROOT)} imports {imported}")
    return found


def test_no_module_imports_a_layer_above_its_own():
    assert upward_imports() == []


def test_the_check_sees_an_upward_import(tmp_path, monkeypatch):
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "bad.py").write_text("def f():\n    from flows.config import Config\n")
    for package in LAYERS[:-1]:
        (tmp_path / package).mkdir()
    monkeypatch.setattr(__import__(__name__), "ROOT", tmp_path)
    assert upward_imports() == ["schemas/bad.py imports flows"]
