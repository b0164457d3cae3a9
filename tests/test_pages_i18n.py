"""The pages' gettext catalogues: every message of the templates and page modules is in the
zh-CN catalogue and translated there with the same placeholders; templates hold no Chinese
of their own (it lives in the catalogue)."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from hub.pages import i18n

ROOT = Path(__file__).resolve().parents[1]
CJK = re.compile(r"[\u4e00-\u9fff]")
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def extracted() -> set[str]:
    found: set[str] = set()
    sources = [
        (
            ROOT / "templates",
            [("**.html", "jinja2")],
            {"**.html": {"extensions": "jinja2.ext.i18n"}},
        ),
        (ROOT / "hub" / "pages", [("**.py", "python")], {}),
    ]
    for folder, methods, options in sources:
        keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
        for _, _, message, _, _ in extract_from_dir(
            str(folder), method_map=methods, options_map=options, keywords=keywords
        ):
            found.add(message[0] if isinstance(message, tuple) else message)
    return found


def catalogue(locale: str) -> dict[str, str]:
    path = i18n.LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as fh:
        cat = read_po(fh, locale=locale)
    out: dict[str, str] = {}
    for m in cat:
        if m.id:
            key = m.id[0] if isinstance(m.id, tuple) else m.id
            out[key] = m.string[0] if isinstance(m.string, tuple) else m.string
    return out


def test_every_message_is_translated_to_chinese() -> None:
    messages = extracted()
    assert len(messages) > 100
    zh = catalogue("zh_CN")
    missing = sorted(m for m in messages if not zh.get(m))
    assert missing == [], "run pybabel extract/update (see babel.cfg) and translate"
    for msgid in messages:
        assert set(PLACEHOLDER.findall(msgid)) == set(PLACEHOLDER.findall(zh[msgid])), msgid
        assert CJK.search(zh[msgid]) or not re.search("[A-Za-z]{3}", msgid), msgid


def test_english_catalogue_has_every_message() -> None:
    assert extracted() <= set(catalogue("en"))


def test_templates_have_no_chinese_of_their_own() -> None:
    for path in (ROOT / "templates").rglob("*.html"):
        if "reports" in path.parts:
            continue  # the printable reports have their own issue
        assert not CJK.search(path.read_text()), f"{path}: text belongs in the catalogue"


def test_translations_compile_and_apply() -> None:
    assert i18n.translations("zh_CN").gettext("Sign in") == "登录"
    assert i18n.translations("en").gettext("Sign in") == "Sign in"
    assert i18n.negotiate(None, "en-GB,en;q=0.9,zh;q=0.8") == "en"
    assert i18n.negotiate(None, "fr-FR") == "zh_CN"
    assert i18n.negotiate("en", "zh-CN") == "en"
    assert i18n.negotiate("xx", "zh-TW") == "zh_CN"
