from pathlib import Path

from segue import paths

ROOT = Path(__file__).resolve().parents[1]


def test_defaults_are_the_checkouts_folders_or_the_users_data_home_never_the_working_directory(
        tmp_path, monkeypatch):
    assert paths.DATA_DIR == ROOT / "data" and paths.MODELS_DIR == ROOT / "models"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(paths, "CHECKOUT", tmp_path / "site-packages")  # installed: no checkout around it
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert paths.segue_home() == tmp_path / "xdg" / "segue"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert paths.segue_home() == Path.home() / ".local" / "share" / "segue"
