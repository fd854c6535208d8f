"""How a shell finds and completes the command: `hybridfed completion bash|zsh` and the kubectl plugin.

The bash script is sourced into a real bash and its completion function called as bash calls it (COMP_WORDS,
COMP_CWORD); what it offers is compared with the parser itself, so a new subcommand or flag is covered without
touching this file. zsh is exercised where it is installed (it is not on every machine); the script's text
is checked everywhere.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hybridfed.cli import completion, status
from hybridfed.cli import main as cli_main

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
BASH = shutil.which("bash")
ZSH = shutil.which("zsh")


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def flags(parser: argparse.ArgumentParser) -> set[str]:
    return {s for a in parser._actions if a.help != argparse.SUPPRESS for s in a.option_strings}


@pytest.fixture(scope="module")
def bash_script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("completion") / "hybridfed.bash"
    path.write_text(completion.script("bash", cli_main.build_parser()))
    return path


def complete(script: Path, *words: str) -> list[str]:
    """What bash offers for the command line `words` (the last word is the one being completed)."""
    assert BASH is not None
    line = " ".join(shlex.quote(w) for w in words)
    program = (f"source {shlex.quote(str(script))}\n"
               f"COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; COMP_LINE={shlex.quote(' '.join(words))}\n"
               "COMP_POINT=${#COMP_LINE}; COMPREPLY=()\n"
               f"$(complete -p {shlex.quote(words[0])} | sed -E 's/.* -F ([^ ]+) .*/\\1/')\n"
               'printf "%s\\n" "${COMPREPLY[@]}"\n')
    result = subprocess.run([BASH, "--norc", "--noprofile", "-c", program], capture_output=True, text=True,
                            timeout=30, check=True)
    return [w for w in result.stdout.splitlines() if w]


pytestmark = pytest.mark.skipif(BASH is None, reason="bash is not installed")


def test_bash_script_is_valid_bash(bash_script: Path) -> None:
    assert BASH is not None
    result = subprocess.run([BASH, "-n", str(bash_script)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr


def test_bash_completes_every_subcommand_for_both_names(bash_script: Path) -> None:
    parser = cli_main.build_parser()
    names = set(subcommands(parser))
    assert {"status", "join", "completion", "dev"} <= names
    assert set(complete(bash_script, "hybridfed", "")) == names
    assert set(complete(bash_script, "kubectl-hybridfed", "")) == names
    assert complete(bash_script, "hybridfed", "sta") == ["status"]
    dev = subcommands(parser)["dev"]
    assert set(complete(bash_script, "hybridfed", "dev", "")) == set(subcommands(dev))


def test_bash_completes_each_subcommands_flags_and_choices(bash_script: Path) -> None:
    parser = cli_main.build_parser()
    for name, sub in subcommands(parser).items():
        assert set(complete(bash_script, "hybridfed", name, "-")) == flags(sub), name
    up = subcommands(subcommands(parser)["dev"])["up"]
    assert set(complete(bash_script, "hybridfed", "dev", "up", "-")) == flags(up)
    assert "--watch-count" not in complete(bash_script, "hybridfed", "status", "--")  # a hidden test hook
    assert complete(bash_script, "hybridfed", "status", "-o", "") == list(status.OUTPUTS)
    assert complete(bash_script, "hybridfed", "completion", "") == list(completion.SHELLS)
    assert complete(bash_script, "hybridfed", "join", "x", "--mode", "P") == ["Push", "Pull"]


def test_bash_offers_files_for_kubeconfig_flags(bash_script: Path, tmp_path: Path) -> None:
    (tmp_path / "hub.kubeconfig").write_text("")
    (tmp_path / "notes").mkdir()
    offered = complete(bash_script, "hybridfed", "status", "--kubeconfig", f"{tmp_path}/h")
    assert offered == [f"{tmp_path}/hub.kubeconfig"]
    assert complete(bash_script, "hybridfed", "join", "x", "--hub-kubeconfig", f"{tmp_path}/h") == offered


def test_zsh_script_names_every_subcommand_and_flag_and_both_programs() -> None:
    parser = cli_main.build_parser()
    text = completion.script("zsh", cli_main.build_parser())
    assert text.startswith("#compdef hybridfed kubectl-hybridfed\n")
    for name, sub in subcommands(parser).items():
        assert f"\n    {name}:" in text, name
        for flag in flags(sub):
            assert flag in text, (name, flag)
    assert "--watch-count" not in text


@pytest.mark.skipif(ZSH is None, reason="zsh is not installed")
def test_zsh_loads_the_script_for_both_programs(tmp_path: Path) -> None:
    assert ZSH is not None
    script = tmp_path / "_hybridfed"
    script.write_text(completion.script("zsh", cli_main.build_parser()))
    assert subprocess.run([ZSH, "-n", str(script)], capture_output=True, timeout=30).returncode == 0
    program = (f"autoload -U compinit && compinit -u -d {tmp_path}/zcompdump\n"
               f'eval "$(cat {shlex.quote(str(script))})"\n'
               "print -r -- ${_comps[hybridfed]} ${_comps[kubectl-hybridfed]}\n")
    result = subprocess.run([ZSH, "-f", "-c", program], capture_output=True, text=True, timeout=30)
    assert result.stdout.split() == ["_shtab_hybridfed", "_shtab_hybridfed"], result.stderr


def test_the_completion_command_prints_the_script(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main.main(["completion", "bash"]) == 0
    assert capsys.readouterr().out == completion.script("bash", cli_main.build_parser())
    with pytest.raises(SystemExit) as exit_:
        cli_main.main(["completion", "fish"])
    assert exit_.value.code == 2
    assert "argument shell: invalid choice: 'fish'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="prog"):
        completion.script("bash", cli_main.build_parser("kubectl hybridfed"))


def test_kubectl_plugin_list_finds_kubectl_hybridfed() -> None:
    kubectl = ROOT / "bin" / "kubectl"
    if not kubectl.exists():
        pytest.skip("bin/kubectl is not built (make tools)")
    assert (VENV_BIN / "kubectl-hybridfed").exists(), "the console script kubectl-hybridfed is not installed"
    env = {**os.environ, "PATH": str(VENV_BIN)}  # only the virtualenv: no other plugin, no other kubectl
    listed = subprocess.run([str(kubectl), "plugin", "list"], capture_output=True, text=True, env=env, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert str(VENV_BIN / "kubectl-hybridfed") in listed.stdout.splitlines()
    ran = subprocess.run([str(kubectl), "hybridfed", "status", "-o", "xml"], capture_output=True, text=True,
                         env=env, timeout=60)
    assert ran.returncode == 2  # a usage error, and it says so as the person typed it
    assert ran.stderr.splitlines()[-1].startswith("kubectl hybridfed status: error: argument -o/--output")
