"""One vocabulary: ledger actions and subjects are spelled only in governance/ground/vocabulary.py.

The scan reads the AST of every production module (governance/, tasks/, validation/, flows/) and bench script
and flags, outside the vocabulary module:

- a string constant equal to a ledger action (``"killswitch.tripped"``) or to an action area
  with its dot (``"killswitch."``), or an f-string that starts with one (``f"gate.{g}"``);
- a subject literal: a constant ``<prefix>:<name>`` or an f-string starting ``<prefix>:``
  for a subject prefix (``model``, ``strategy``, ``book``, ``portfolio``, ``data``, ``user``,
  ``flow``, ``run``, ``killswitch``);
- an action given to a ledger call as a string literal or as a module constant holding one
  (``SENT = "fills.booked"; ctx.record(SENT)``): an action the enum does not have yet;
- any string literal passed as ``subject=`` to a ledger call (``append``, ``record``,
  ``last``, ``entries``, ``decide_gate``).
"""

from __future__ import annotations

import ast
import re

from governance.ground.vocabulary import Action, Area, Subject, area, gate_action, gate_of
from tests.import_graph import ROOT

VOCABULARY = ROOT / "governance" / "ground" / "vocabulary.py"
LAYERS = ("governance", "tasks", "validation", "flows", "bench")
ACTIONS = {a.value for a in Action}
AREAS = {f"{a}." for a in Area}
PREFIXES = ("model", "strategy", "book", "portfolio", "data", "user", "flow", "run", "killswitch")
#: Calls whose ``subject=`` is a ledger subject (ledger, transaction, run context, gates).
LEDGER_CALLS = {"append", "record", "last", "entries", "decide_gate"}
SUBJECT_LITERAL = re.compile(rf"^({'|'.join(PREFIXES)}):[\w./-]*$")


def _name(func: ast.expr) -> str:
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _leading_text(node: ast.JoinedStr) -> str:
    first = node.values[0] if node.values else None
    return first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else ""


def violations(source: str, name: str = "<src>") -> list[str]:
    """Every action or subject literal in ``source``, as ``name:line: text``."""
    tree = ast.parse(source)
    docstrings = {
        id(n.value)
        for n in ast.walk(tree)
        if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)
    }
    strings = {  # module-level NAME = "text": an action spelled outside the enum
        t.id: n.value.value
        for n in tree.body
        if isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant)
        and isinstance(n.value.value, str)
        for t in n.targets
        if isinstance(t, ast.Name)
    }  # fmt: skip
    fragments = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
    found = []
    for node in sorted(
        (n for n in ast.walk(tree) if hasattr(n, "lineno")), key=lambda n: (n.lineno, n.col_offset)
    ):
        text = None
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) in docstrings or id(node) in fragments:
                continue
            s = node.value
            if s in ACTIONS or s in AREAS or SUBJECT_LITERAL.match(s):
                text = s
        elif isinstance(node, ast.JoinedStr):
            lead = _leading_text(node)
            if lead in AREAS or any(lead == f"{p}:" for p in PREFIXES):
                text = f"f{lead!r}..."
        elif isinstance(node, ast.Call) and _name(node.func) in LEDGER_CALLS:
            for kw in node.keywords:
                if kw.arg == "subject" and isinstance(kw.value, ast.Constant | ast.JoinedStr):
                    text = f"subject={ast.unparse(kw.value)}"
            action = next((k.value for k in node.keywords if k.arg == "action"), None)
            kws = {k.arg for k in node.keywords}
            positional = _name(node.func) == "record" or "actor" in kws  # not list.append
            action = node.args[0] if action is None and node.args and positional else action
            if isinstance(action, ast.Name) and action.id in strings:
                text = f"action={action.id} (= {strings[action.id]!r}, not an Action member)"
            elif isinstance(action, ast.Constant | ast.JoinedStr):
                text = f"action={ast.unparse(action)}"
        if text is not None:
            found.append(f"{name}:{node.lineno}: {text}")
    return found


def test_no_action_or_subject_literal_outside_the_vocabulary():
    found = []
    for layer in LAYERS:
        for path in sorted((ROOT / layer).rglob("*.py")):
            if path == VOCABULARY or ".venv" in path.parts:
                continue
            found += violations(path.read_text(), str(path.relative_to(ROOT)))
    assert not found, "spell these with governance.ground.vocabulary:\n" + "\n".join(found)


def test_the_scan_finds_each_kind_of_literal():
    """The scan can fail: each spelling it must catch is caught, a docstring is not."""
    src = '''
"""The ``killswitch.tripped`` action is mentioned in a docstring."""
A = "killswitch.tripped"
B = e.action.startswith("approval.")
C = f"gate.{gate}"
D = f"model:{name}/v{version}"
E = "portfolio:live"
F = ledger.last(subject="workspace")
G = "data:image/png;base64,"
H = "validation.verdict"
SENT = "fills.booked"
I = ctx.record(SENT, subject=s)
J = ledger.last(action="fills.imported")
'''
    lines = [v.split(": ", 1)[1] for v in violations(src)]
    assert lines == [
        "killswitch.tripped",
        "approval.",
        "f'gate.'...",
        "f'model:'...",
        "portfolio:live",
        "subject='workspace'",
        "action=SENT (= 'fills.booked', not an Action member)",
        "action='fills.imported'",
    ]


def test_members_equal_their_ledger_strings():
    """A StrEnum member is its string: rows written before the vocabulary still match."""
    assert Action.KILLSWITCH_TRIPPED == "killswitch.tripped"
    assert {a.value for a in Action} == ACTIONS and len(ACTIONS) == len(Action)
    assert all(re.fullmatch(r"[a-z]+\.[a-z_]+", a) for a in ACTIONS)
    assert gate_action("stress") is Action.GATE_STRESS
    assert area("killswitch.anything") == "killswitch"
    assert gate_of(Action.GATE_PRETRADE) == "pretrade" and gate_of(Action.RUN_HALTED) is None
    assert Subject.parse_model("model:alpha/v3") == ("alpha", "3")
    assert Subject.parse_model("model:alpha") == ("alpha", None)
    assert Subject.of_model("model:alpha/v3", "alpha") and not Subject.of_model("book:a", "a")
    assert Subject.model("alpha", 3) == "model:alpha/v3"
    assert Subject.model("alpha") == "model:alpha"
    assert Subject.portfolio("2024-01-02", "acct-1") == "portfolio:2024-01-02:acct-1"
    assert Subject.killswitch() == "killswitch"
    assert Subject.killswitch("alpha") == "killswitch:alpha"
