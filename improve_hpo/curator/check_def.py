"""The checks of `improve-hpo check-def`: is this definition file an image improve-hpo can run?

Each check returns Results (PASS, FAIL, WARN, INFO) with the reason and the line numbers. The
rules, in the words the curator documentation uses (docs/curator.md):

- header: a known `Bootstrap:` agent and, for agents that pull an image, a `From:` line, both
  before the first section.
- <script> on PATH: %files or %post (cp, mv, ln, install, or a git clone into the folder)
  puts preprocess.sh, train.sh and infer.sh into a PATH folder: /usr/local/bin, /usr/bin, ... or
  one that %environment adds to PATH. A script named explicitly passes (the build fails
  otherwise); one that only a pattern (`cp *.sh`) or a cloned folder on PATH would deliver is
  UNKNOWN: whether the repository has it cannot be known from the file (HiDRA release_00 has no
  infer.sh; LGBM never had one).
- <script> executable: a chmod in %post that lets every user run it (a+x, +x, o+x, 755; u+x is
  not enough because the image belongs to root), `install` (mode 0755), or a %files source
  that is executable on the host (looked up beside the definition file). Without a chmod, a
  script from a git clone is UNKNOWN: git keeps the mode the repository committed.
- data mount point: %post creates the folder the runtime binds the data to (--data-mount); a
  root folder named like a data mount (/candle_data_dir, /improve_data_dir) is named with the
  --data-mount that uses it.
- GPU base image: a warning only, when the From image does not look like a CUDA image
  (pytorch/pytorch, nvidia/*, nvcr.io, tensorflow/*-gpu, rapidsai, rocm count as CUDA images).
- template: a placeholder left from a template ({{IMAGE}}, MyModel, Your Name) fails outside
  %labels and %help, and warns inside them.
UNKNOWN results neither pass nor fail: the summary names them so the curator checks by hand.
- sections: an unknown section fails (Apptainer refuses it); a valid section spython does not
  parse is named as not checked.
"""

from __future__ import annotations

import difflib
import fnmatch
import posixpath
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from improve_hpo.curator.recipe_scan import Definition, Line, Section, Stage
from improve_hpo.curator.recipe_shell import Chmod, Placement, PostFacts, read_post
from improve_hpo.curator.recipe_spython import FIELDS, section_lines

SCRIPTS = ("preprocess.sh", "train.sh", "infer.sh")
LEGACY_MOUNT_POINT = "/candle_data_dir"
STANDARD_PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
# Bootstrap agents (Apptainer's list) and those that build on a From image.
AGENTS = {"docker", "library", "shub", "oras", "localimage", "docker-daemon", "docker-archive",
          "oci", "oci-archive", "yum", "zypper", "debootstrap", "arch", "busybox", "scratch"}
FROM_AGENTS = {"docker", "library", "shub", "oras", "localimage", "docker-daemon",
               "docker-archive", "oci", "oci-archive"}
HEADER_KEYWORDS = {"bootstrap", "from", "stage", "includecmd", "mirrorurl", "osversion",
                   "include", "library", "registry", "namespace", "fingerprints", "updateurl",
                   "confurl", "setopt", "product", "user", "regcode", "productpgp",
                   "registerurl"}
CHECKED_SECTIONS = set(FIELDS)
# Valid sections spython parses (their content is not needed here) and those it drops or
# misreads (%setup: every line becomes "$SINGULARITY_ROOTFS").
IGNORED_SECTIONS = {"labels", "runscript", "test"}
UNPARSED_SECTIONS = {"help", "setup", "startscript", "arguments", "appinstall", "appfiles",
                     "appenv", "apphelp", "apprun", "applabels", "apptest", "appstart"}
GPU_IMAGE = re.compile(r"cuda|nvidia|nvcr\.io|rapidsai|rocm|gpu|(^|/)pytorch/pytorch(:|$)",
                       re.IGNORECASE)
# A root folder named like a data mount point (older images, typos in case).
DATA_MOUNT_NAME = re.compile(r"/[^/]*data_dir[^/]*", re.IGNORECASE)
# Placeholders of the bundled template (containers/templates/model.def) and of the IMPROVE
# Singularity repository's templates (src/templates/*.def: {{IMAGE}}, {{MODEL_URL}}).
PLACEHOLDER = re.compile(r"\{\{\s*\w+\s*\}\}|\bMyModel\b|\bYour Name\b|you@example\.org")
LOOSE_SECTIONS = {"labels", "help"}  # a placeholder there changes nothing the image does
PATTERN = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class Result:
    status: str  # PASS, FAIL, WARN or INFO
    check: str
    message: str
    lines: tuple[int, ...] = ()

    def render(self) -> str:
        return f"{self.status}  {self.check}: {self.message}"


@dataclass
class _Image:
    """What the final stage does, read once for all checks."""

    folder: Path  # the definition file's folder: %files sources are relative to it
    files: list[Placement]
    post: PostFacts
    path_dirs: dict[str, int | None]  # PATH folder -> the %environment line that adds it


def check_definition(definition: Definition, data_mount: str) -> list[Result]:
    """Every check, in checklist order."""
    stage = definition.image_stage
    if not any(key in HEADER_KEYWORDS for key in stage.header) and not stage.sections:
        return [_not_a_definition(definition)]
    image = _read_image(stage, definition.path.parent)
    results = _stages(definition) + _header(stage)
    for script in SCRIPTS:
        results.append(_on_path(image, script))
    for script in SCRIPTS:
        results.append(_executable(image, script))
    results.append(_mount_point(image, data_mount))
    results.append(_gpu_image(stage))
    return results + _sections(stage) + _placeholders(definition)


def _at(numbers) -> str:
    numbers = sorted(set(numbers))
    if len(numbers) == 1:
        return f"line {numbers[0]}"
    if numbers == list(range(numbers[0], numbers[-1] + 1)):
        return f"lines {numbers[0]}-{numbers[-1]}"
    return "lines " + ", ".join(map(str, numbers))


def _not_a_definition(definition: Definition) -> Result:
    content = [(number, text) for number, text in enumerate(definition.lines, 1) if text.strip()]
    if not content:
        return Result("FAIL", "definition", "the file is empty; a definition file starts with "
                      "'Bootstrap: docker' and 'From: <image>', then %post and other sections")
    number, text = content[0]
    return Result("FAIL", "definition", "not a Singularity definition file: no 'Bootstrap:' "
                  f"header and no %section (line {number} reads {text.strip()[:60]!r})",
                  (number,))


def _read_image(stage: Stage, folder: Path) -> _Image:
    files: list[Placement] = []
    post_lines: list[Line] = []
    path_dirs: dict[str, int | None] = dict.fromkeys(STANDARD_PATH)
    for section in stage.sections:
        if section.name not in CHECKED_SECTIONS:
            continue
        lines = section_lines(section)
        if section.name == "files":
            files += [entry for line in lines if (entry := _files_entry(section, line))]
        elif section.name == "post":
            post_lines += lines
        else:
            for line in lines:
                path_dirs.update(dict.fromkeys(_path_additions(line.text), line.number))
    return _Image(folder, files, read_post(post_lines), path_dirs)


def _files_entry(section: Section, line: Line) -> Placement | None:
    """A %files line `src [dst]`; `how` records the stage for `%files from <stage>`."""
    try:
        words = shlex.split(line.text, comments=True)
    except ValueError:
        return None
    if not words or len(words) > 2:
        return None
    source, destination = words[0], words[-1]
    target = None if destination.endswith("/") else posixpath.normpath(destination)
    how = f"%{section.name} {section.args}".strip()
    return Placement((source,), posixpath.normpath(destination), target, how, line.number)


def _path_additions(text: str) -> list[str]:
    """Folders an %environment line such as `export PATH=/opt/model:$PATH` puts on PATH."""
    try:
        words = shlex.split(text, comments=True)
    except ValueError:
        return []
    values = [word[5:] for word in words if word.startswith("PATH=")]
    return [posixpath.normpath(item) for value in values for item in value.split(":")
            if item.startswith("/") and "$" not in item]


def _stages(definition: Definition) -> list[Result]:
    if len(definition.stages) == 1:
        return []
    first = min(line.number for line in definition.image_stage.header.values())
    return [Result("INFO", "stages", f"{len(definition.stages)} build stages; checked the "
                   f"final stage (from line {first}), which is the image", (first,))]


def _header(stage: Stage) -> list[Result]:
    results = [_bootstrap_from(stage)]
    for key, line in stage.header.items():
        if key not in HEADER_KEYWORDS and not re.fullmatch(r"otherurl\d+", key):
            results.append(_stray_header(line, key))
    results += [_stray_header(line, None) for line in stage.stray]
    return results


def _stray_header(line: Line, key: str | None) -> Result:
    guess = difflib.get_close_matches(key or "", sorted(HEADER_KEYWORDS), n=1)
    hint = f"; did you mean {guess[0].capitalize()}:?" if guess else \
        "; header lines are 'Keyword: value', sections start with %"
    return Result("FAIL", "header", f"line {line.number} {line.text.strip()[:60]!r} is not a "
                  f"header keyword{hint}", (line.number,))


def _bootstrap_from(stage: Stage) -> Result:
    bootstrap, source = stage.header.get("bootstrap"), stage.header.get("from")
    agent, image = stage.header_value("bootstrap"), stage.header_value("from")
    if bootstrap is None:
        return Result("FAIL", "header", "no 'Bootstrap:' line before the first section; "
                      "start the file with 'Bootstrap: docker'")
    if agent.lower() not in AGENTS:
        return Result("FAIL", "header", f"Bootstrap {agent!r} ({_at([bootstrap.number])}) is "
                      f"not a bootstrap agent; use one of {', '.join(sorted(AGENTS))}",
                      (bootstrap.number,))
    if agent.lower() in FROM_AGENTS and not image:
        return Result("FAIL", "header", f"Bootstrap {agent} ({_at([bootstrap.number])}) needs a "
                      f"'From: <image>' line in the header{_misplaced_from(stage)}",
                      (bootstrap.number,))
    numbers = [bootstrap.number] + ([source.number] if image else [])
    described = f"Bootstrap {agent}" + (f", From {image}" if image else "")
    return Result("PASS", "header", f"{described} ({_at(numbers)})", tuple(numbers))


def _misplaced_from(stage: Stage) -> str:
    """Name a `from:` line inside a section: spython takes it for the header, Singularity not."""
    for section in stage.sections:
        for line in section.body:
            if re.match(r"\s*from\s*:", line.text, re.IGNORECASE):
                return (f"; line {line.number} {line.text.strip()!r} is inside %{section.name}, "
                        "not in the header")
    return ""


def _names(placement: Placement, script: str) -> bool:
    return any(_matches(script, source) for source in placement.sources)


def _matches(script: str, path: str) -> bool:
    """Whether `path` (a name or a shell pattern such as /src/*.sh) can name `script`."""
    return fnmatch.fnmatchcase(script, posixpath.basename(path))


def _lands_on_path(image: _Image, placement: Placement, script: str) -> str | None:
    """The PATH location where `placement` puts `script`, or None."""
    if placement.folder in image.path_dirs and _names(placement, script):
        return placement.folder
    target = placement.target
    if target and posixpath.basename(target) == script and \
            posixpath.dirname(target) in image.path_dirs:
        return target
    return None


def _placements(image: _Image) -> list[Placement]:
    return image.files + image.post.placements


def _describe(image: _Image, placement: Placement, where: str) -> str:
    how = placement.how if placement.how.startswith("%") else f"{placement.how} in %post"
    text = f"put in {where} by {how} ({_at([placement.line])})"
    added = image.path_dirs.get(where) or image.path_dirs.get(posixpath.dirname(where))
    return text + (f", on PATH by %environment ({_at([added])})" if added else "")


def _explicit(placement: Placement) -> bool:
    """Whether the placement names its files (a pattern or a clone delivers whatever exists)."""
    return placement.how != "git clone" and not any(PATTERN.search(posixpath.basename(source))
                                                    for source in placement.sources)


def _origin(image: _Image, placement: Placement) -> str:
    """Where a pattern's files come from, as far as the file says."""
    clone = image.post.clone_holding(placement.folder if placement.how == "git clone"
                                     else next(iter(placement.sources), None))
    if clone is None:
        return "the folder it copies from"
    return f"the clone of {clone.url}" + (f" at {clone.ref}" if clone.ref else "") + \
        f" ({_at([clone.line])})"


def _on_path(image: _Image, script: str) -> Result:
    check = f"{script} on PATH"
    landing = [(p, where) for p in _placements(image)
               if (where := _lands_on_path(image, p, script)) is not None]
    for placement, where in landing:
        if _explicit(placement):
            return Result("PASS", check, _describe(image, placement, where), (placement.line,))
        if placement.how == "%files":  # a pattern of host files: look at what it matches
            host = _host_matches(image, placement, script)
            if host:
                return Result("PASS", check, f"{_describe(image, placement, where)}, which "
                              f"matches {host}", (placement.line,))
            if host is None:
                return Result("UNKNOWN", check, f"{_describe(image, placement, where)} only if "
                              f"the pattern matches a {script} when the image is built; the "
                              f"folder it reads is not beside {image.folder} here to look at",
                              (placement.line,))
            missing = (f"{_describe(image, placement, where)}, but no {script} matches it in "
                       f"{image.folder / posixpath.dirname(placement.sources[0])}, so the "
                       f"image would have none")
            if script == "train.sh":
                return Result("FAIL", check, f"{missing}: add it there", (placement.line,))
            return Result("WARN", check, f"{missing}: add it there, or run improve-hpo with "
                          f"{_without_flag(script)}", (placement.line,))
    for placement, where in landing:
        return Result("UNKNOWN", check, f"{_describe(image, placement, where)} only if "
                      f"{_origin(image, placement)} has {script}: that cannot be known from "
                      f"this file; check the repository at the ref it checks out, or name "
                      f"{script} explicitly (the build then fails when it is missing)",
                      (placement.line,))
    elsewhere = [p for p in _placements(image) if _names(p, script) and p.how != "git clone"]
    if elsewhere:
        placement = elsewhere[0]
        return Result("FAIL", check, f"{_describe(image, placement, placement.folder)}, which "
                      f"is not on PATH; copy it to /usr/local/bin, or add that folder to PATH "
                      "in %environment", (placement.line,))
    add = f"add 'cp {script} /usr/local/bin/' to %post"
    if script == "train.sh":
        return Result("FAIL", check, f"not copied to a PATH directory in %files or %post; {add}")
    return Result("WARN", check, f"not copied to a PATH directory in %files or %post, so the "
                  f"image has none: run improve-hpo with {_without_flag(script)}, or {add}")


def _without_flag(script: str) -> str:
    """The improve-hpo flag that runs a model without this optional script."""
    return "--no-preprocess (the data prepared in advance)" if script == "preprocess.sh" \
        else "--infer none"


def _executable(image: _Image, script: str) -> Result:
    check = f"{script} executable"
    installed = [p for p in _placements(image) if _lands_on_path(image, p, script)]
    if not installed:
        return Result("INFO", check, f"not checked: {script} is not put on PATH")
    for placement in installed:
        if placement.executable:
            return Result("PASS", check, f"install in %post gives mode 0755 "
                          f"({_at([placement.line])})", (placement.line,))
    chmods = [c for c in image.post.chmods if _chmod_covers(c, script, installed)]
    for chmod in chmods:
        if chmod.for_everyone:
            return Result("PASS", check, f"chmod {chmod.mode} in %post ({_at([chmod.line])})",
                          (chmod.line,))
    if chmods:
        chmod = chmods[0]
        return Result("FAIL", check, f"chmod {chmod.mode} ({_at([chmod.line])}) does not let "
                      "other users run it (the image belongs to root, trials run as you); use "
                      "chmod a+x or 755", (chmod.line,))
    host = [p for p in installed if p.how == "%files"]
    if host:
        return _host_mode(image, host[0], script)
    # install sets the mode itself; cp, mv, ln and a clone keep the repository's.
    cloned = [p for p in installed
              if p.how != "install" and _origin(image, p) != "the folder it copies from"]
    if cloned:
        placement = cloned[0]
        return Result("UNKNOWN", check, f"no chmod in %post, and it comes from "
                      f"{_origin(image, placement)}: git keeps the mode the repository "
                      f"committed (`git ls-files -s {script}` shows 100755 when it is "
                      f"executable); add 'chmod a+x /usr/local/bin/{script}' to %post to be "
                      "sure", (placement.line,))
    return Result("FAIL", check, "no chmod that makes it executable in %post; add "
                  f"'chmod a+x /usr/local/bin/{script}' to %post")


def _chmod_covers(chmod: Chmod, script: str, installed: list[Placement]) -> bool:
    if any(_matches(script, path) for path in chmod.paths):
        return True
    return chmod.recursive and any(
        placement.folder == path or (placement.folder or "").startswith(path.rstrip("/") + "/")
        for placement in installed for path in chmod.paths)


def _host_matches(image: _Image, placement: Placement, script: str) -> Path | None | bool:
    """The host file a %files pattern delivers as `script` (sources are relative to the
    definition file's folder); False when its folder is there but holds no such file; None when
    the folder is not there to look at."""
    looked = False
    for source in placement.sources:
        if not _matches(script, source):
            continue
        folder = image.folder / posixpath.dirname(source)
        if not folder.is_dir():
            continue
        looked = True
        if (folder / script).is_file():
            return folder / script
    return False if looked else None


def _host_mode(image: _Image, placement: Placement, script: str) -> Result:
    """%files keeps the host file's mode: look at the source beside the definition file."""
    check = f"{script} executable"
    source = placement.sources[0]
    named = source  # train.sh, my_train.sh copied to train.sh, or a pattern such as *.sh
    if _matches(script, source):
        named = posixpath.join(posixpath.dirname(source), script)
    host = image.folder / named
    if not host.is_file():
        return Result("WARN", check, f"%files copies {source} ({_at([placement.line])}) but "
                      f"{host} is not there to look at; if it is not executable, add "
                      f"'chmod a+x /usr/local/bin/{script}' to %post", (placement.line,))
    mode = host.stat().st_mode & 0o777
    if mode & 0o001:
        return Result("PASS", check, f"{host} has mode {mode:o} and %files keeps it "
                      f"({_at([placement.line])})", (placement.line,))
    return Result("FAIL", check, f"{host} has mode {mode:o}, not executable by other users, "
                  f"and %files keeps it ({_at([placement.line])}); run 'chmod a+x {host}' or "
                  f"add 'chmod a+x /usr/local/bin/{script}' to %post", (placement.line,))


def _mount_point(image: _Image, data_mount: str) -> Result:
    check = "data mount point"
    mount = posixpath.normpath(data_mount)
    for folder, number in image.post.created:
        if folder == mount or folder.startswith(mount + "/"):
            return Result("PASS", check, f"%post creates {mount} ({_at([number])})", (number,))
    for folder, number in image.post.created:
        root = "/" + folder.lstrip("/").split("/", 1)[0]
        if root == LEGACY_MOUNT_POINT or DATA_MOUNT_NAME.fullmatch(root):
            older = "the older mount point " if root == LEGACY_MOUNT_POINT else ""
            return Result("WARN", check, f"%post creates {older}{root} ({_at([number])}), "
                          f"not {mount}: run improve-hpo with --data-mount {root}"
                          + (" (or --convention candle)" if older else "")
                          + ", and check with it too", (number,))
    return Result("FAIL", check, f"%post does not create {mount}, where the data folder is "
                  f"bound; add 'mkdir -p {mount}' to %post (or give --data-mount if the "
                  "image uses another mount point)")


def _gpu_image(stage: Stage) -> Result:
    check = "GPU base image"
    image, agent = stage.header_value("from"), stage.header_value("bootstrap")
    if not image:
        if agent and agent.lower() in AGENTS - FROM_AGENTS:
            return Result("WARN", check, f"Bootstrap {agent} builds from OS packages: "
                          "make sure %post installs CUDA, or trials will run without a GPU")
        return Result("INFO", check, "not checked: no From image")
    number = stage.header["from"].number
    if GPU_IMAGE.search(image):
        return Result("PASS", check, f"{image} ({_at([number])})", (number,))
    return Result("WARN", check, f"{image} ({_at([number])}) does not look like a CUDA image "
                  "(not pytorch/pytorch, and no cuda, nvidia, nvcr.io, rapidsai, rocm or gpu in "
                  "its name); trials "
                  "will use the CPU unless %post installs CUDA", (number,))


def _placeholders(definition: Definition) -> list[Result]:
    """Template placeholders left in the file: FAIL where they change the image, WARN in
    %labels and %help; nothing when there are none."""
    section = None
    hard, soft = [], []
    for number, text in enumerate(definition.lines, 1):
        stripped = text.strip()
        if stripped.startswith("%"):
            section = stripped[1:].split()[0].lower() if len(stripped) > 1 else None
            continue
        if stripped.startswith("#"):
            continue
        for found in PLACEHOLDER.findall(text.split(" #", 1)[0]):
            (soft if section in LOOSE_SECTIONS else hard).append((number, found))
    results = []
    for status, found in (("FAIL", hard), ("WARN", soft)):
        if found:
            named = ", ".join(f"{text!r} ({_at([number])})" for number, text in found[:6])
            where = "in %labels/%help: " if status == "WARN" else ""
            results.append(Result(status, "template", f"{where}{named} left from a template: "
                                  "put in the model's own values", tuple(n for n, _ in found)))
    return results


def _sections(stage: Stage) -> list[Result]:
    known = CHECKED_SECTIONS | IGNORED_SECTIONS | UNPARSED_SECTIONS
    results = []
    for section in stage.sections:
        if section.name not in known:
            guess = difflib.get_close_matches(section.name, sorted(known), n=1)
            hint = f"; did you mean %{guess[0]}?" if guess else \
                f"; valid sections: {', '.join('%' + s for s in sorted(known))}"
            results.append(Result("FAIL", "sections", f"%{section.name} "
                                  f"({_at([section.number])}) is not a Singularity section, "
                                  f"Apptainer will refuse the file{hint}", (section.number,)))
    unparsed = [s for s in stage.sections if s.name in UNPARSED_SECTIONS]
    if unparsed:
        named = ", ".join(f"%{s.name} ({_at([s.number])})" for s in unparsed)
        results.append(Result("INFO", "sections", f"not checked: {named}: valid sections "
                              "that spython does not parse", tuple(s.number for s in unparsed)))
    if not results or all(r.status == "INFO" for r in results):
        names = ", ".join(f"%{s.name}" for s in stage.sections) or "none"
        results.insert(0, Result("PASS", "sections", f"all known ({names})"))
    return results
