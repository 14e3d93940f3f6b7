"""The house in layers: every import of the project runs down, never up, and never in a circle.

From the ground up:
- machinery/ (run folders, resume, signals, devices, whole files, downloads) imports nothing
  of the project above it;
- the domain modules at the top level (data, noise, metrics, models, training, settings...)
  import machinery and each other, never a command;
- the commands stand on top: the lesson scripts (train_*.py), denoise.py and tools/. No code
  imports a command but a tool another tool (tools.make_docs runs tools.benchmark's table).

Every import counts, also one inside a function (a lazy import is still an arrow). The test
reads the files' imports with `ast`, so it runs none of them.
"""

import ast

import pytest

from conftest import REPOSITORY

GROUND, DOMAIN, COMMANDS = 0, 1, 2
FLOOR_NAMES = {GROUND: "machinery", DOMAIN: "a domain module", COMMANDS: "a command"}


def module_name(path):
    """tools/compare.py -> "tools.compare"; data.py -> "data"."""
    return ".".join(path.relative_to(REPOSITORY).with_suffix("").parts)


def project_modules():
    """{module name: its file} for every module of the project (tests and .venv aside)."""
    paths = [*REPOSITORY.glob("*.py"), *REPOSITORY.glob("machinery/*.py"),
             *REPOSITORY.glob("tools/*.py")]
    return {module_name(path): path for path in paths if path.name != "__init__.py"}


def floor(name):
    """The floor a module stands on: machinery, the domain, or the commands."""
    if name.startswith("machinery."):
        return GROUND
    if name.startswith("tools.") or name.startswith("train_") or name == "denoise":
        return COMMANDS
    return DOMAIN


def imports_of(path, modules):
    """The project's modules that the file imports, anywhere in it, as {name: line}."""
    found = {}
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        else:
            continue
        for name in names:
            if name in modules:
                found.setdefault(name, node.lineno)
    return found


def import_graph(modules):
    """{module: {module it imports: line}} over the project."""
    return {name: imports_of(path, modules) for name, path in modules.items()}


def upward_imports(graph, modules):
    """Each import that runs up a floor, or into a command, as a sentence naming it."""
    wrong = []
    for importer, imported in graph.items():
        for name, line in imported.items():
            into_a_command = floor(name) == COMMANDS and not (
                importer.startswith("tools.") and name.startswith("tools."))
            if floor(name) > floor(importer) or into_a_command:
                wrong.append(f"{modules[importer].relative_to(REPOSITORY)}:{line} ({FLOOR_NAMES[floor(importer)]}) "
                             f"imports {name} ({FLOOR_NAMES[floor(name)]})")
    return wrong


def circle(graph):
    """A circle of imports, as [a, b, ..., a], or None: a depth-first search."""
    state, path = {}, []

    def visit(name):
        state[name] = "open"
        path.append(name)
        for other in sorted(graph[name]):
            if state.get(other) == "open":
                return path[path.index(other):] + [other]
            if other not in state and (found := visit(other)):
                return found
        state[name] = "done"
        path.pop()
        return None

    for name in sorted(graph):
        if name not in state and (found := visit(name)):
            return found
    return None


def test_no_import_runs_back_up():
    modules = project_modules()
    assert upward_imports(import_graph(modules), modules) == []


def test_no_imports_go_round_in_a_circle():
    assert circle(import_graph(project_modules())) is None


def test_every_module_of_the_project_is_seen_on_its_floor():
    """The floors the tests above check are the project's: a renamed folder would leave
    its modules unchecked."""
    floors = {name: floor(name) for name in project_modules()}
    assert {"machinery.runs", "machinery.files", "machinery.signals"} <= {
        name for name, level in floors.items() if level == GROUND}
    assert {"data", "noise", "training", "settings", "conv_models"} <= {
        name for name, level in floors.items() if level == DOMAIN}
    assert {"train_conv", "train_dense", "train_photos", "train_noisy_targets", "denoise",
            "tools.make_docs"} <= {
        name for name, level in floors.items() if level == COMMANDS}


@pytest.mark.parametrize("module, source, complaint", [
    ("machinery/files.py", "import data\n", "machinery/files.py:1 (machinery) imports data (a domain module)"),
    ("noise.py", "def f():\n    import train_conv\n",
     "noise.py:2 (a domain module) imports train_conv (a command)"),
    ("tools/export.py", "from denoise import main\n",
     "tools/export.py:1 (a command) imports denoise (a command)"),
])
def test_the_check_names_an_import_that_runs_up(tmp_path, monkeypatch, module, source, complaint):
    modules = project_modules()
    changed = tmp_path / module
    changed.parent.mkdir(parents=True, exist_ok=True)
    changed.write_text(source)
    graph = import_graph(modules)
    graph[module_name(REPOSITORY / module)] = imports_of(changed, modules)
    monkeypatch.setitem(modules, module_name(REPOSITORY / module), REPOSITORY / module)
    assert complaint in upward_imports(graph, modules)


def test_the_check_finds_a_circle():
    graph = {"data": {"noise": 1}, "noise": {"metrics": 1}, "metrics": {"data": 3}, "plots": {}}
    assert circle(graph) == ["data", "noise", "metrics", "data"]
