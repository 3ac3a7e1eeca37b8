"""Pages are drawn fast and unchanged: each fixture page is byte-identical to the page drawn
the slow way (every figure built from matplotlib Artists and saved by matplotlib's own SVG
canvas, no text measurement remembered, templates compiled afresh), and compiled templates
are reused across processes only while their source is unchanged.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import jinja2
import pytest
import yaml
from forest_matplotlib import forest_svg as forest_matplotlib
from matplotlib.figure import Figure

from ketameta.report import _svg, plots, render, render_condition, render_index

FIXTURES = Path(__file__).parent / "fixtures" / "report"


def _render_fixture_pages(out: Path) -> dict[str, bytes]:
    config = yaml.safe_load((FIXTURES / "config.yaml").read_text(encoding="utf-8"))
    processed = FIXTURES / "processed"
    pages = {}
    for condition in config["conditions"]:
        ids = [a for a, e in config["analyses"].items() if e["condition"] == condition]
        render_condition(condition, config, [processed / a / "summary.json" for a in ids],
                         [processed / a / "effects.csv" for a in ids], out / f"{condition}.html")
        pages[condition] = (out / f"{condition}.html").read_bytes()
    ids = list(config["analyses"])
    render_index(config, [processed / a / "summary.json" for a in ids],
                 [processed / a / "effects.csv" for a in ids], out / "index.html")
    pages["index"] = (out / "index.html").read_bytes()
    return pages


def _plain_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=72)
    fig.patch.set_facecolor("white")
    return fig


def _plain_svg(fig: Figure, metadata: dict) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", metadata=metadata)
    return buf.getvalue()


def test_fixture_pages_are_byte_identical_to_the_matplotlib_rendering(tmp_path, monkeypatch):
    fast = _render_fixture_pages(tmp_path / "fast")
    with monkeypatch.context() as m:
        m.setattr(plots, "forest_svg", forest_matplotlib)
        m.setattr(plots, "new_figure", _plain_figure)
        m.setattr(plots, "svg_bytes", _plain_svg)
        m.setattr(render, "_ENVIRONMENTS", {})
        m.setattr(render, "template_cache", lambda start=None: None)
        slow = _render_fixture_pages(tmp_path / "slow")
    assert len(fast) >= 4
    for page, html in fast.items():
        assert html == slow[page], page
        assert html.count(b"<svg") >= 1


def test_one_environment_per_process():
    assert render.environment() is render.environment()


def test_compiled_templates_live_in_the_projects_working_folder(tmp_path):
    stage = tmp_path / "project" / ".ketameta" / "stage"
    stage.mkdir(parents=True)
    cache = render.template_cache(stage)
    assert isinstance(cache, jinja2.FileSystemBytecodeCache)
    assert Path(cache.directory).parent == tmp_path / "project" / ".ketameta" / "cache"
    assert render.template_cache(tmp_path / "project").directory == cache.directory
    assert render.template_cache(tmp_path) is None  # no project folder: memory only


def test_a_new_project_starts_with_the_templates_compiled_ahead(tmp_path, monkeypatch):
    ahead = tmp_path / "ahead"
    monkeypatch.setattr(render, "AHEAD", ahead)
    names = render.precompile_templates()
    assert "condition.html" in names and "index.html" in names
    compiled = ahead / render._cache_name()
    assert len(list(compiled.glob("*.cache"))) == len(names)  # one file per template
    cache = render.template_cache(tmp_path / "project" / ".ketameta" / "stage")
    seeded = sorted(p.name for p in Path(cache.directory).iterdir())
    assert seeded == sorted(p.name for p in compiled.glob("*.cache"))
    env = render._new_environment(cache)

    def no_compiling(*args, **kwargs):
        raise AssertionError("a template was compiled, not loaded")

    monkeypatch.setattr(env, "compile", no_compiling)
    for name in names:
        env.get_template(name)  # every one loaded as compiled ahead


def test_no_templates_compiled_ahead_leaves_a_project_to_compile_its_own(tmp_path,
                                                                         monkeypatch):
    monkeypatch.setattr(render, "AHEAD", tmp_path / "nothing here")
    cache = render.template_cache(tmp_path / ".ketameta")
    assert list(Path(cache.directory).iterdir()) == []
    env = render._new_environment(cache)
    env.get_template("macros.html")
    assert len(list(Path(cache.directory).iterdir())) == 1


def test_an_edited_template_is_never_served_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(render, "AHEAD", tmp_path / "nothing compiled ahead")
    cache = render.template_cache(tmp_path / ".ketameta")
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "page.html").write_text("first {{ x }}", encoding="utf-8")

    def fresh_process_render() -> str:
        env = jinja2.Environment(loader=jinja2.FileSystemLoader(templates), bytecode_cache=cache,
                                 **render._ENV_OPTIONS)
        return env.get_template("page.html").render(x=1)

    assert fresh_process_render() == "first 1"
    assert len(os.listdir(cache.directory)) == 1  # compiled once, kept
    assert fresh_process_render() == "first 1"  # from the cache
    (templates / "page.html").write_text("second {{ x }}", encoding="utf-8")
    assert fresh_process_render() == "second 1"


def test_text_measurement_cache_is_keyed_by_the_whole_font():
    from matplotlib.font_manager import FontProperties

    regular = FontProperties(family=["DejaVu Sans"], size=8.5)
    bold = FontProperties(family=["DejaVu Sans"], size=8.5, weight="bold")
    italic = FontProperties(family=["DejaVu Sans"], size=8.5, style="italic")
    widths = {_svg.text_extent("Weight", p)[0] for p in (regular, bold, italic)}
    assert len(widths) == 3


def test_rendering_sets_older_objects_aside_and_gives_them_back(tmp_path):
    import gc

    assert gc.get_freeze_count() == 0
    with render.rendering():
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0
    _render_fixture_pages(tmp_path)
    assert gc.get_freeze_count() == 0
    gc.freeze()  # a caller's own freeze is left as it is
    try:
        frozen = gc.get_freeze_count()
        with render.rendering():
            pass
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()


def test_a_process_that_set_its_objects_aside_for_good_is_not_asked_again(monkeypatch):
    # The warm worker freezes what it imported before forking the jobs: their pages leave
    # the collector alone without gc.get_freeze_count(), which walks every frozen object.
    import gc

    def walks(*args):
        raise AssertionError("gc.get_freeze_count() walked the frozen objects")

    monkeypatch.setattr(render.rendering, "_caller_froze", False)
    try:
        render.rendering.set_aside_for_good()
        frozen = gc.get_freeze_count()
        assert frozen > 0
        with monkeypatch.context() as patch:
            patch.setattr(gc, "get_freeze_count", walks)
            with render.rendering():
                pass
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()


def test_the_pages_configuration_text_is_pyyamls_whichever_emitter_writes_it():
    # libyaml's emitter writes it where the text allows (the shipped configuration, labels
    # with accents, Greek and symbols); a label beyond the Basic Multilingual Plane, which
    # libyaml would escape, is written by PyYAML's as it is.
    from ketameta.io import load_config
    from ketameta.profiles import effective_config

    config, _ = load_config(str(Path(__file__).parents[1] / "config" / "config.yaml"))
    labelled = {**config, "analyses": {
        "a": {**next(iter(config["analyses"].values())), "label": "Réponse τ² ≥ 0 — “x”"},
        "b": {**next(iter(config["analyses"].values())), "label": "Relief 😀 in a day"}}}
    for cfg in (config, labelled):
        for ids in (list(cfg["analyses"])[:1], list(cfg["analyses"])):
            effective = {a: effective_config(a, cfg) for a in ids}
            expected = yaml.safe_dump(
                {"profile": cfg.get("profile", "cochrane"), "analyses": effective},
                sort_keys=True, allow_unicode=True, default_flow_style=False)
            assert render._config_text(cfg, ids) == expected
    assert "😀" in render._config_text(labelled, ["b"])


def test_a_page_is_written_piece_by_piece_as_render_would_write_it(tmp_path, monkeypatch):
    # The page streams to a file beside its target and replaces it once complete: the same
    # text as render(), and a rendering that fails leaves the last page and no partial file.
    env = jinja2.Environment(loader=jinja2.DictLoader({
        "page.html": "<p>{{ title }}</p>{% for item in items %}<li>{{ item }}</li>{% endfor %}"
                     "{{ tail() }}\n",
    }))
    monkeypatch.setattr(render, "environment", lambda: env)
    out = tmp_path / "reports" / "page.html"
    context = {"title": "Réponse — τ²", "items": list(range(3000)), "tail": lambda: "end"}
    expected = env.get_template("page.html").render(**context).encode("utf-8")
    render.write_page("page.html", context, out)
    assert out.read_bytes() == expected

    def broken():
        raise RuntimeError("a figure failed")

    with pytest.raises(RuntimeError, match="a figure failed"):
        render.write_page("page.html", {**context, "tail": broken}, out)
    assert out.read_bytes() == expected  # the last page stays
    assert sorted(p.name for p in out.parent.iterdir()) == ["page.html"]
