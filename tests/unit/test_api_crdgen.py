"""crdgen writes deterministic files and --check names every stale one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hybridfed.api import crdgen


def test_output_is_deterministic() -> None:
    assert crdgen.render() == crdgen.render()


def test_file_names() -> None:
    names = set(crdgen.render())
    assert "memberclusters.hybridfed.io.yaml" in names
    assert "federateddeployments.hybridfed.io.yaml" in names
    assert crdgen.POLICY_FILE in names
    assert "memberclustersets.hybridfed.io.yaml" in names
    assert "memberclustersetbindings.hybridfed.io.yaml" in names
    assert "works.hybridfed.io.yaml" in names  # pull mode
    assert len(names) == 13


def test_committed_crds_are_up_to_date() -> None:
    stale = crdgen.stale_files(crdgen.default_out_dir())
    assert stale == [], "run: python -m hybridfed.api.crdgen"


def test_check_passes_after_write(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert crdgen.main(["--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(crdgen.render())
    assert crdgen.main(["--check", "--out", str(tmp_path)]) == 0
    assert "up to date" in capsys.readouterr().out
    assert crdgen.write(tmp_path) == []  # nothing rewritten when nothing changed


def test_check_names_stale_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    crdgen.write(tmp_path)
    changed = tmp_path / "federatedjobs.hybridfed.io.yaml"
    changed.write_text(changed.read_text().replace("fjob", "fj"))
    (tmp_path / "memberclusters.hybridfed.io.yaml").unlink()
    (tmp_path / "federatedpods.hybridfed.io.yaml").write_text(crdgen.HEADER + "kind: Old\n")
    (tmp_path / "someone-elses.yaml").write_text("kind: ConfigMap\n")

    assert crdgen.main(["--check", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"stale: {changed}: differs" in err
    assert f"stale: {tmp_path / 'memberclusters.hybridfed.io.yaml'}: missing" in err
    assert f"stale: {tmp_path / 'federatedpods.hybridfed.io.yaml'}: obsolete" in err
    assert "someone-elses" not in err
    assert "python -m hybridfed.api.crdgen" in err

    crdgen.main(["--out", str(tmp_path)])
    assert crdgen.stale_files(tmp_path) == []
    assert not (tmp_path / "federatedpods.hybridfed.io.yaml").exists()
    assert (tmp_path / "someone-elses.yaml").exists()  # not ours: left alone


def test_module_entry_point(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "hybridfed.api.crdgen", "--check", "--out", str(tmp_path)]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert "memberclusters.hybridfed.io.yaml: missing" in result.stderr
