"""The .config make leaves must be the one kbuild wrote: a synthetic syncconfig rewrite."""
from __future__ import annotations

import pytest

from kbuild.build.configcheck import check_config_kept, config_differences
from kbuild.errors import UserError
from kbuild.site.load import load_site
from tests.tinysite import make_site

WRITTEN = ("#\n# Automatically generated file; DO NOT EDIT.\n#\nCONFIG_NET=y\n"
           "# CONFIG_IMA is not set\nCONFIG_LOG_BUF_SHIFT=17\n")


def test_differences_name_symbol_and_both_values():
    after = WRITTEN.replace("# CONFIG_IMA is not set", "CONFIG_IMA=y").replace("CONFIG_NET=y\n", "")
    assert config_differences(WRITTEN, after) == [("IMA", "n", "y"), ("NET", "y", None)]
    assert config_differences(WRITTEN, WRITTEN) == []


def test_unchanged_config_passes(tmp_path):
    site = load_site(make_site(tmp_path / "s"))
    config = tmp_path / ".config"
    config.write_text(WRITTEN)
    check_config_kept(site, site.profiles["nfsroot"], config, WRITTEN)
    assert config.read_text() == WRITTEN


def test_rewritten_config_is_an_error_naming_symbols_and_fragment(tmp_path):
    site = load_site(make_site(tmp_path / "s"))
    config = tmp_path / ".config"
    # what the kernel's conf does when it disagrees with kconfiglib
    config.write_text(WRITTEN.replace("CONFIG_NET=y", "# CONFIG_NET is not set")
                      .replace("# CONFIG_IMA is not set\n", ""))
    with pytest.raises(UserError) as e:
        check_config_kept(site, site.profiles["nfsroot"], config, WRITTEN)
    msg = str(e.value.message)
    assert "profile 'nfsroot': make's syncconfig rewrote the .config" in msg
    assert "2 symbol(s) differ" in msg
    assert "CONFIG_NET: kbuild wrote 'y', make wrote 'n' (not set) (set in net)" in msg
    assert "CONFIG_IMA: kbuild wrote 'n' (not set), make wrote nothing" in msg
    assert "fragments: net" in (e.value.hint or "")
    assert e.value.path == str(config)
    # kbuild's .config is back: the next configure does not rewrite it (no rebuild loop)
    assert config.read_text() == WRITTEN


def test_text_only_difference_is_still_an_error(tmp_path):
    site = load_site(make_site(tmp_path / "s"))
    config = tmp_path / ".config"
    config.write_text(WRITTEN.replace("DO NOT EDIT.", "DO NOT EDIT!"))
    with pytest.raises(UserError, match="same values, other text"):
        check_config_kept(site, site.profiles["nfsroot"], config, WRITTEN)
    assert config.read_text() == WRITTEN
