"""No string from a spec, its file name or --name can add lines or commands to a rendered
run-folder file (sweep.sub, run_job.sh, README.md, queue.txt).

Names, images and paths with control characters are refused (one line naming the key);
everything else goes through the escaping helper of the file's language, checked here with
a table of hostile strings against the real parsers: bash, and HTCondor's own submit parser
(the htcondor2 bindings; `condor_submit -dry-run` in the condor test).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from condor_pool import condor_pool  # noqa: F401 (a fixture)
from run_specs import copy_templates, write_spec

from dmsweep.errors import ConfigError, DmsweepError
from dmsweep.run_builder.cli import main
from dmsweep.run_builder.escaping import markdown_text, shell_word, submit_text
from dmsweep.run_builder.folder import BuildOptions, build_run
from dmsweep.run_builder.render import render

HOSTILE = [
    "plain",
    "two words",
    "new\nline",
    "carriage\rreturn",
    "crlf\r\nqueue",
    "single ' quote",
    'double " quote',
    "$(echo pwned)",
    "$ENV(HOME) $INT(1) $RANDOM_CHOICE(a,b)",
    "$ $(",
    "${HOME}",
    "`id`",
    "a; touch pwned",
    "a && b || c",
    "tab\there",
    "vertical\x0btab\x0cfeed",
    "escape \x1b[31m",
    "next line \x85 (NEL)",
    "unicode\u2028line\u2029paragraph",
    "bidi \u202eevil",
    "trailing backslash \\",
    "\\",
    "back\\slash \\n",
    "ünïcödé ✓ 中文",
    "#not a comment",
    "queue 1",
    "\n+Injected = True\nqueue",
    "-dash first",
    "",
]
"""Strings that break a naive template (NUL is separate: bash cannot hold it at all)."""


@pytest.mark.parametrize("value", HOSTILE)
def test_shell_word_is_one_line_and_expands_to_the_value(tmp_path, value):
    word = shell_word(value)
    assert "\n" not in word and "\r" not in word and control_free(word)
    script = tmp_path / "probe.sh"
    script.write_text(f"#!/bin/bash\nprintf '%s' {word}   # comment {word}\nexit 0\n")
    for locale in ("C", "C.UTF-8"):
        result = subprocess.run(
            ["bash", str(script)],
            cwd=tmp_path,
            capture_output=True,
            env={"PATH": os.environ["PATH"], "LC_ALL": locale},
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout == value.encode("utf-8"), locale
    assert not (tmp_path / "pwned").exists()


def test_shell_word_refuses_nul():
    with pytest.raises(ConfigError, match="NUL"):
        shell_word("a\0b")


@pytest.mark.parametrize("value", [*HOSTILE, "nul \0 byte"])
def test_submit_text_is_one_line_with_no_macro_and_no_continuation(value):
    """Parsed by HTCondor's submit parser: the keys as written, the value as given."""
    htcondor2 = bindings()
    text = submit_text(value)
    assert control_free(text)
    description = (
        f"# a comment: {text}\n"
        "executable = run_job.sh\n"
        f"batch_name = {text}\n"
        f"# another: {text}\n"
        "arguments = after\n"
    )
    parsed = htcondor2.Submit(description)
    assert sorted(parsed.keys()) == ["arguments", "batch_name", "executable"]
    assert parsed["arguments"] == "after"
    expected = visible(value).strip()  # HTCondor trims the value's ends
    assert (parsed.expand("batch_name") if expected else parsed["batch_name"]) == expected


@pytest.mark.parametrize("value", ["$$(Memory)", "a$$b", "$(DOLLAR)", "$( dollar )"])
def test_submit_text_refuses_what_htcondor_cannot_hold(value):
    with pytest.raises(ConfigError, match="HTCondor"):
        submit_text(value)


@pytest.mark.parametrize("value", HOSTILE)
def test_markdown_text_is_one_line_without_markup(value):
    text = markdown_text(value)
    assert control_free(text) and "\n" not in text
    assert not re.search(r"(?<!\\)[`<>\[\]|]", text)
    assert not re.match(r"([-+=*#]|\d+[.)])(\s|$)", text)


def test_a_template_value_without_its_filter_is_refused(tmp_path, monkeypatch):
    templates = copy_templates(tmp_path)
    (templates / "probe.sh.j2").write_text("echo {{ value }}\n")
    (templates / "probe2.sh.j2").write_text("echo {{ value | submit }}\n")
    (templates / "probe3.sh.j2").write_text("echo {{ value | sh }} {{ 3 }}\n")
    monkeypatch.setenv("DMSWEEP_TEMPLATES", str(templates))
    with pytest.raises(DmsweepError, match=r"probe\.sh\.j2: .* \(use \| sh\)"):
        render("probe.sh.j2", value="x\nrm -rf ~")
    with pytest.raises(DmsweepError, match=r"use \| sh"):
        render("probe2.sh.j2", value="x")
    assert render("probe3.sh.j2", value="a b") == "echo 'a b' 3\n"


# ------------------------------------------------------------------- whole run folders


def build(spec: Path, runs: Path, data_dir: Path, name: str | None = "run") -> Path:
    return build_run(spec, BuildOptions(runs_dir=runs, data_dir=data_dir, name=name, log=print))


@pytest.mark.parametrize(
    "image",
    [
        "docker://x/y:1\nqueue\n+Injected = True",
        "docker://x/y:1\n touch pwned",
        "docker://x\r\n+A = 1",
        "docker://x\u2028y",
        "docker://x\0y",
        "docker://x\x1b[2J",
        "docker://x$$(Memory)",
    ],
)
def test_image_that_would_change_the_files_is_refused(tmp_path, data_dir, image):
    spec = write_spec(tmp_path / "c.yaml", environment={"strategy": "container", "image": image})
    with pytest.raises(ConfigError) as caught:
        build(spec, tmp_path / "runs", data_dir)
    message = str(caught.value)
    assert "environment.image" in message and "c.yaml" in message
    assert control_free(message)
    assert not (tmp_path / "runs" / "run").exists()


@pytest.mark.parametrize(
    "image",
    [
        "docker://x/y:1 $(touch pwned)",
        "docker://x/y:1'`touch pwned`'\"; touch pwned",
        "/images/my image$(Cluster).sif",
        "docker://x/y:1\\",
    ],
)
def test_printable_image_reaches_the_submit_file_exactly(tmp_path, data_dir, image):
    htcondor2 = bindings()
    safe = write_spec(
        tmp_path / "a.yaml", environment={"strategy": "container", "image": "docker://a/b:1"}
    )
    odd = write_spec(tmp_path / "b.yaml", environment={"strategy": "container", "image": image})
    plain = build(safe, tmp_path / "runs", data_dir, "a")
    hostile = build(odd, tmp_path / "runs", data_dir, "b")
    parsed = htcondor2.Submit(_body(hostile / "sweep.sub"))
    assert sorted(parsed.keys()) == sorted(htcondor2.Submit(_body(plain / "sweep.sub")).keys())
    assert parsed.expand("container_image") == image.strip()
    for name in ("sweep.sub", "run_job.sh", "README.md"):
        assert _line_count(plain / name) == _line_count(hostile / name), name
    check = subprocess.run(["bash", "-n", str(hostile / "run_job.sh")], capture_output=True)
    assert check.returncode == 0, check.stderr
    assert not list(tmp_path.rglob("pwned"))


def test_spec_file_name_with_a_newline_is_refused(tmp_path, data_dir):
    spec = write_spec(tmp_path / "x\nqueue\n+Injected = True\n.yaml")
    with pytest.raises(ConfigError, match="the spec file's path") as caught:
        build(spec, tmp_path / "runs", data_dir)
    assert control_free(str(caught.value))
    assert not (tmp_path / "runs" / "run").exists()


def test_spec_file_name_with_metacharacters_stays_in_its_comment(tmp_path, data_dir):
    htcondor2 = bindings()
    odd = tmp_path / "odd $(x) `id`; 'q' \"q\" \\"
    odd.mkdir()
    plain = build(write_spec(tmp_path / "tiny.yaml"), tmp_path / "runs", data_dir, "a")
    hostile = build(write_spec(odd / "s $(y)\\.yaml"), tmp_path / "runs", data_dir, "b")
    keys = htcondor2.Submit(_body(hostile / "sweep.sub")).keys()
    assert sorted(keys) == sorted(htcondor2.Submit(_body(plain / "sweep.sub")).keys())
    for name in ("sweep.sub", "run_job.sh", "README.md"):
        assert _line_count(plain / name) == _line_count(hostile / name), name


@pytest.mark.parametrize("name", ["x\n", "x\ny", "x;touch pwned", "x y", "../x", "-x", "x\u2028"])
def test_run_name_must_be_a_plain_name(tmp_path, data_dir, name, capsys):
    spec = write_spec(tmp_path / "tiny.yaml")
    runs = tmp_path / "runs"
    assert main([str(spec), "-o", str(runs), "--data-dir", str(data_dir), f"--name={name}"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "run name" in err
    assert not runs.exists() or not any(runs.iterdir())


@pytest.mark.parametrize("name", ["x\n", "x\ny", "x\u2028"])
def test_spec_name_must_be_a_plain_name(tmp_path, data_dir, name):
    spec = write_spec(tmp_path / "tiny.yaml", name=name)
    with pytest.raises(ConfigError, match="name"):
        build(spec, tmp_path / "runs", data_dir, name=None)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_description_and_requirements_cannot_add_lines(tmp_path, data_dir):
    htcondor2 = bindings()
    description = "line one\n# Heading\n\n    code\n<script>x</script> `tick` | cell\n1. list"
    requirements = 'Arch == "X86_64" &&\n  (Memory > $(memory_mb)) \\'
    spec = write_spec(
        tmp_path / "tiny.yaml",
        description=description,
        resources={
            "default": {"cpus": 1, "memory_mb": 2000, "disk_mb": 3000},
            "fc": {"requirements": requirements},
        },
    )
    plain = build(write_spec(tmp_path / "plain.yaml"), tmp_path / "runs", data_dir, "a")
    root = build(spec, tmp_path / "runs", data_dir, "b")
    readme = (root / "README.md").read_text().splitlines()
    assert _line_count(plain / "README.md") == len(readme)
    assert readme[2] == (
        "line one # Heading code \\<script\\>x\\</script\\> \\`tick\\` \\| cell 1. list"
    )
    parsed = htcondor2.Submit(_body(root / "sweep.sub"))
    plain_keys = set(htcondor2.Submit(_body(plain / "sweep.sub")).keys())
    assert set(parsed.keys()) == plain_keys | {"REQ_1"}
    assert parsed.expand("REQ_1") == " ".join(requirements.split())
    assert parsed.expand("REQ_0") == "True"


@pytest.mark.parametrize("requirements", ["a\0b", "x\x1by", "x\u202ey", "$$(Arch)"])
def test_requirements_that_would_change_the_file_are_refused(tmp_path, data_dir, requirements):
    spec = write_spec(
        tmp_path / "tiny.yaml",
        resources={"default": {"cpus": 1, "requirements": requirements}},
    )
    with pytest.raises(ConfigError, match=r"resources\.default\.requirements"):
        build(spec, tmp_path / "runs", data_dir)


@pytest.mark.condor
@pytest.mark.usefixtures("condor_pool")
def test_condor_submit_reads_a_hostile_run_folder_as_built(tmp_path, data_dir):
    """HTCondor's own condor_submit (which, unlike the bindings, continues a comment ending in
    a backslash onto the next line) sees exactly the attributes of a plain run folder."""
    from dmsweep.core.events import PERSONAL_CONFIG

    env = {
        **os.environ,
        "CONDOR_CONFIG": os.environ.get("CONDOR_CONFIG", str(PERSONAL_CONFIG)),
        "PATH": f"/opt/htcondor/usr/bin:{os.environ['PATH']}",
    }
    odd = tmp_path / "odd \\"
    odd.mkdir()
    spec = write_spec(
        odd / "s \\",
        environment={"strategy": "container", "image": "docker://x/y:1 $(Cluster) \\"},
        description="a\n+Injected = True\nqueue",
    )
    plain = write_spec(
        tmp_path / "p.yaml", environment={"strategy": "container", "image": "docker://x/y:1"}
    )
    ads = {}
    for key, path in (("plain", plain), ("odd", spec)):
        root = build(path, tmp_path / "runs", data_dir, key)
        out = tmp_path / f"{key}.ad"
        result = subprocess.run(
            ["condor_submit", "-dry-run", str(out), "sweep.sub"],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr
        ads[key] = _attributes(out.read_text())
    assert set(ads["odd"]) == set(ads["plain"])
    assert ads["odd"]["ContainerImage"] == '"docker://x/y:1 $(Cluster) \\"'
    assert ads["odd"]["JobBatchName"] == '"odd"'


# ------------------------------------------------------------------------------ helpers


def bindings():
    """htcondor2, loaded the way condor.py loads it (so the pool's config is the one read)."""
    from dmsweep.run_builder.condor import _htcondor

    return _htcondor()


def control_free(text: str) -> bool:
    return all(c.isprintable() or c == " " for c in text)


def visible(value: str) -> str:
    """What submit_text shows for a value: control characters as \\x.. / \\u.. escapes."""
    out = []
    for c in value:
        if c.isprintable() or c == " ":
            out.append(c)
        elif ord(c) < 0x100:
            out.append(f"\\x{ord(c):02x}")
        else:
            out.append(f"\\u{ord(c):04x}")
    return "".join(out)


def _body(submit_file: Path) -> str:
    """The submit file without its queue statement (what condor.submit passes the bindings)."""
    lines = submit_file.read_text().splitlines()
    return "\n".join(line for line in lines if not line.lower().startswith("queue"))


def _line_count(path: Path) -> int:
    return len(path.read_text().splitlines())


def _attributes(ad_text: str) -> dict[str, str]:
    attrs = {}
    for line in ad_text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key and not key.startswith(" "):
            attrs[key] = value
    return attrs


def test_compiled_templates_are_cached_only_in_a_folder_closed_to_others(tmp_path, monkeypatch):
    """A cached template is code that runs: a cache folder others may write is not used."""
    from dmsweep.run_builder.render import _bytecode_cache

    monkeypatch.setenv("DMSWEEP_CACHE_DIR", str(tmp_path / "cache"))
    assert _bytecode_cache() is not None
    (tmp_path / "cache" / "templates").chmod(0o777)
    assert _bytecode_cache() is None
