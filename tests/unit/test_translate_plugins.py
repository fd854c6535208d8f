"""Third-party drivers from the ``hybridfed.drivers`` entry point group.

Each test installs distributions for real, the way pip leaves them (a ``*.dist-info`` directory with
``entry_points.txt`` on ``sys.path``), so discovery goes through ``importlib.metadata`` exactly as in
production; the example package's module is copied beside them. (The e2e test installs the
example with pip and uses it from the running operator.)
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hybridfed import drivers
from hybridfed.api.member import Translation
from hybridfed.drivers import registry

EXAMPLE_SRC = Path(__file__).parents[2] / "examples" / "third-party-driver" / "src"


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No plugin loaded before, none left behind; the example's module copied in, as pip would (not its
    source tree: a build there leaves an egg-info behind that would register it a second time)."""
    monkeypatch.setattr(registry, "_loaded", {})
    shutil.copytree(EXAMPLE_SRC / "hybridfed_acme", tmp_path / "hybridfed_acme")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    for name in [m for m in sys.modules if m.startswith(("hybridfed_acme", "plugin_"))]:
        del sys.modules[name]


def install(site: Path, dist: str, entry_points: dict[str, str], modules: dict[str, str] | None = None) -> None:
    """What pip leaves in site-packages for a distribution: its modules and its dist-info."""
    info = site / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    lines = "".join(f"{name} = {value}\n" for name, value in entry_points.items())
    (info / "entry_points.txt").write_text(f"[hybridfed.drivers]\n{lines}")
    for module, source in (modules or {}).items():
        (site / f"{module}.py").write_text(source)


def test_the_example_driver_is_found_by_its_entry_point(tmp_path: Path) -> None:
    install(tmp_path, "hybridfed-acme", {"acme": "hybridfed_acme:DRIVER"})
    assert drivers.plugin_names() == ["acme"]
    acme = drivers.get("acme")
    assert acme.name == "acme" and drivers.get("acme") is acme  # loaded once
    out = acme.translate({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}},
                         Translation.model_validate({"loadBalancer": {"billingAccount": "team-7"}}))
    assert out["metadata"]["annotations"] == {"acme.example.com/billing-account": "team-7"}
    # The way a MemberCluster chooses it: provider generic (the enum), driver acme.
    mc: dict[str, Any] = {"metadata": {"name": "acme-1"}, "spec": {"provider": "generic", "driver": "acme"}}
    assert drivers.driver_for(mc) is acme
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "annotations": {
        "hybridfed.io/exposure": "internal"}}, "spec": {"type": "LoadBalancer"}}
    assert drivers.translator_for(mc)(svc)["metadata"]["annotations"] == {
        "hybridfed.io/exposure": "internal", "lb.acme.example.com/scheme": "internal",
        "lb.acme.example.com/network": "default-vpc", "acme.example.com/billing-account": "shared"}


def test_a_factory_is_accepted(tmp_path: Path) -> None:
    install(tmp_path, "plugin-factory", {"made": "plugin_factory:make"}, {"plugin_factory": (
        "from hybridfed.drivers import Detection, Driver, Price\n"
        "def make():\n    return Driver(name='made', detection=Detection(), default_price=Price(0.1, 0.01))\n")})
    assert drivers.get("made").default_price.cpu_core_hour == 0.1


@pytest.mark.parametrize(
    ("entry", "module", "error"),
    [
        ("plugin_missing:DRIVER", None, r"cannot load driver 'bad' \(entry point bad = 'plugin_missing:DRIVER' in "
                                        r"group hybridfed.drivers from plugin-bad 0.1\): ModuleNotFoundError"),
        ("plugin_crash:DRIVER", "raise RuntimeError('no credentials configured')",
         "cannot load driver 'bad'.*RuntimeError: no credentials configured"),
        ("plugin_attr:DRIVER", "X = 1", "cannot load driver 'bad'.*AttributeError"),
        ("plugin_type:DRIVER", "DRIVER = {'name': 'bad'}",
         r"driver 'bad' \(entry point .*\) is a dict, not a hybridfed.drivers.Driver or a callable returning one"),
        ("plugin_factory_fails:make", "def make():\n    raise ValueError('boom')\n",
         "driver 'bad'.*calling the factory failed: ValueError: boom"),
        ("plugin_name:DRIVER", "from hybridfed.drivers import get\nDRIVER = get('aws')\n",
         "driver 'bad'.*calls itself 'aws'; the entry point name and Driver.name must be the same"),
    ],
)  # fmt: skip
def test_a_bad_plugin_names_its_entry_point(tmp_path: Path, entry: str, module: str | None, error: str) -> None:
    name = entry.partition(":")[0]
    install(tmp_path, "plugin-bad", {"bad": entry}, {name: module} if module is not None else None)
    with pytest.raises(drivers.DriverPluginError, match=error):
        drivers.get("bad")
    # Per cluster, through the controller's entry point: a TranslationError naming spec.driver.
    translate = drivers.translator_for({"spec": {"provider": "generic", "driver": "bad"}})
    with pytest.raises(drivers.TranslationError, match=r"cannot load|not a hybridfed|factory|calls itself") as caught:
        translate({"kind": "ConfigMap"})
    assert caught.value.field == "spec.driver"


def test_two_packages_claiming_one_name(tmp_path: Path) -> None:
    install(tmp_path, "plugin-one", {"twin": "hybridfed_acme:DRIVER"})
    install(tmp_path, "plugin-two", {"twin": "hybridfed_acme:DRIVER"})
    with pytest.raises(drivers.DriverPluginError, match=r"'twin' is registered more than once.*plugin-one.*plugin-two"):
        drivers.get("twin")


def test_builtin_names_cannot_be_taken_over(tmp_path: Path) -> None:
    install(tmp_path, "plugin-evil", {"aws": "hybridfed_acme:DRIVER"})
    assert drivers.get("aws") is drivers.DRIVERS["aws"]
    assert drivers.plugin_names() == []


def test_unknown_names_list_plugins_too_and_a_later_install_is_found(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown provider 'acme'; known: idc, .*, generic \(third-party"):
        drivers.get("acme")
    install(tmp_path, "hybridfed-acme", {"acme": "hybridfed_acme:DRIVER"})
    assert drivers.get("acme").name == "acme"  # the miss was not cached: no restart needed
    with pytest.raises(ValueError, match=r"known: idc, .*, generic, acme"):
        drivers.get("nimbus")


def test_plugins_are_not_providers_for_detection(tmp_path: Path) -> None:
    install(tmp_path, "hybridfed-acme", {"acme": "hybridfed_acme:DRIVER"})
    node = {"metadata": {"labels": {"node.acme.example.com/pool": "p1"}}, "spec": {"providerID": "acme://n1"}}
    assert drivers.get("acme").detect([node]) == 1.0
    assert drivers.detect_provider([node]) is None
