#!/usr/bin/env python3
"""Builds the kubeha.ha Galaxy collection: `make collection`.

Assembles target/collection/ansible_collections/kubeha/ha/ from what `make build` made and from
the repository, then runs `ansible-galaxy collection build` on it:

  plugins/modules/<name>        the static binary module (library/<name>)
  plugins/modules/<name>.yml    its ansible-doc sidecar
  plugins/action/<name>.py      the fast-path action plugin, one per module (as in action_plugins/)
  roles/<role_name>             every role under roles/, renamed to a collection role name
  galaxy.yml, meta/runtime.yml, README.md, changelogs/, CHANGELOG.md, tests/sanity/ignore-*.txt

Collection role names must match ^[a-z][a-z0-9_]*$ and cannot be nested, so a role's path under
roles/ becomes its name with '/' and '-' turned into '_' (kubespray-defaults -> kubespray_defaults,
kubernetes/node -> kubernetes_node). In the copied roles, `ansible.legacy.<module>` or a bare
`<module>:` task key for a kubeha module becomes `kubeha.ha.<module>` (roles inside a collection would otherwise look for it in a
library/ path), and references to a renamed role (meta dependencies, include_role/import_role,
roles: lists) become its FQCN, kubeha.ha.<role_name>. The sources are not changed.

Run it with the Python that has ansible-core (the project's .venv).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[3]
NAMESPACE, NAME = "kubeha", "ha"
FQCN = f"{NAMESPACE}.{NAME}"
ROLE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
# A directory under roles/ is a role when it has one of these; otherwise it only groups roles
# (kubespray's roles/kubernetes/ holds node/, control-plane/, ...).
ROLE_PARTS = ("tasks", "handlers", "defaults", "vars", "meta", "templates", "files", "library")
ROLE_KEYWORDS = {
    f"{prefix}{action}"
    for prefix in ("", "ansible.builtin.", "ansible.legacy.")
    for action in ("include_role", "import_role")
}
SANITY_VERSIONS = ("2.19",)


class BuildError(Exception):
    pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "target" / "collection",
                        help="build directory (default: target/collection)")
    parser.add_argument("--library", type=Path, default=REPO / "library",
                        help="where `make build` put the binaries and sidecars")
    parser.add_argument("--roles", type=Path, default=REPO / "roles", help="the roles to include")
    parser.add_argument("--no-make", action="store_true",
                        help="use the binaries already in --library instead of running `make build`")
    args = parser.parse_args()
    try:
        if not args.no_make:
            subprocess.run(["make", "-C", str(REPO), "build"], check=True)
        tarball = build(args.out.resolve(), args.library.resolve(), args.roles.resolve())
    except (BuildError, subprocess.CalledProcessError) as err:
        print(f"collection: {err}", file=sys.stderr)
        return 1
    print(f"collection: {tarball}")
    return 0


def build(out: Path, library: Path, roles: Path) -> Path:
    """Assembles the collection under `out` and returns the path of the built tarball."""
    version = check_version()
    root = out / "ansible_collections" / NAMESPACE / NAME
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)

    modules = copy_modules(library, root)
    role_names = discover_roles(roles)
    # How playbooks and roles name a kubeha role (its path under roles/) -> its FQCN.
    role_refs = {path.relative_to(roles).as_posix(): f"{FQCN}.{name}" for path, name in role_names.items()}
    for source, role_name in role_names.items():
        copy_role(source, root / "roles" / role_name, modules, role_refs)
    copy_static_files(root)
    write_sanity_ignores(root, modules)

    for old in out.glob(f"{NAMESPACE}-{NAME}-*.tar.gz"):
        old.unlink()
    subprocess.run(
        [galaxy(), "collection", "build", str(root), "--output-path", str(out), "--force"],
        check=True, stdout=subprocess.DEVNULL,
    )
    tarball = out / f"{NAMESPACE}-{NAME}-{version}.tar.gz"
    if not tarball.is_file():
        raise BuildError(f"ansible-galaxy did not write {tarball}")
    print(f"collection: {FQCN} {version}: modules {', '.join(modules)}; "
          f"roles {', '.join(role_names.values()) or '(none)'}")
    return tarball


def check_version() -> str:
    galaxy_version = str(yaml.safe_load((HERE / "galaxy.yml").read_text())["version"])
    cargo = tomllib.loads((REPO / "Cargo.toml").read_text())
    cargo_version = cargo["workspace"]["package"]["version"]
    if galaxy_version != cargo_version:
        raise BuildError(
            f"galaxy.yml has version {galaxy_version} but Cargo.toml's workspace has {cargo_version}: "
            "release both together"
        )
    return galaxy_version


def galaxy() -> str:
    """ansible-galaxy next to the running Python (the venv), else on PATH."""
    beside = Path(sys.executable).parent / "ansible-galaxy"
    return str(beside) if beside.exists() else "ansible-galaxy"


def copy_modules(library: Path, root: Path) -> list[str]:
    modules = sorted(p.stem for p in library.glob("*.yml") if (library / p.stem).is_file())
    crates = sorted(p.parent.parent.name for p in (REPO / "modules").glob("*/src/main.rs"))
    missing = [crate for crate in crates if crate not in modules]
    if missing:
        raise BuildError(f"{library} lacks {', '.join(missing)}: run `make build` first")
    plugin = REPO / "modules" / "runtime" / "ansible" / "kubeha_fastpath.py"
    (root / "plugins" / "modules").mkdir(parents=True)
    (root / "plugins" / "action").mkdir(parents=True)
    for module in modules:
        binary = library / module
        if binary.read_bytes()[:4] != b"\x7fELF":
            raise BuildError(f"{binary} is not a binary module")
        shutil.copy2(binary, root / "plugins" / "modules" / module)
        (root / "plugins" / "modules" / module).chmod(0o755)
        sidecar = (library / f"{module}.yml").read_text()
        (root / "plugins" / "modules" / f"{module}.yml").write_text(collection_sidecar(sidecar, modules))
        shutil.copyfile(plugin, root / "plugins" / "action" / f"{module}.py")
    return modules


# Ansible's documentation schema (ansible-test validate-modules) wants every author line to name a
# GitHub handle; the project's sidecars name the project, whose Galaxy namespace is the handle.
AUTHOR_WITH_HANDLE = re.compile(r"\(@[\w-]+\)|!UNKNOWN")


def collection_sidecar(text: str, modules: list[str]) -> str:
    """A module's sidecar as the collection ships it, for Ansible's documentation schema:

    - `no_log` is dropped from option docs. kubeha's sidecars declare each secret option so the
      cargo tests can check the docs against the spec (the runtime scrubs those values); Ansible's
      schema has no such key (its no_log lives in AnsibleModule's argument_spec).
    - an `author` without a GitHub handle gets the collection's namespace, `(@kubeha)`.
    - a reference to a sibling module, `M(haproxy_config)`, becomes `M(kubeha.ha.haproxy_config)`
      (in a collection, module references must be FQCNs).

    Edits are made in place in the text (by YAML position), so comments and layout are kept."""
    document = yaml.compose(text, Loader=yaml.SafeLoader)
    docs = mapping_get(document, "DOCUMENTATION")
    if docs is None:
        return text
    edits: list[tuple[int, int, str]] = []

    def drop_no_log(options):
        if not isinstance(options, yaml.MappingNode):
            return
        for _, option in options.value:
            if not isinstance(option, yaml.MappingNode):
                continue
            for key, value in option.value:
                if key.value == "no_log":
                    start = text.rfind("\n", 0, key.start_mark.index) + 1
                    end = text.find("\n", value.end_mark.index)
                    edits.append((start, len(text) if end < 0 else end + 1, ""))
            drop_no_log(mapping_get(option, "suboptions"))

    drop_no_log(mapping_get(docs, "options"))
    author = mapping_get(docs, "author")
    lines = author.value if isinstance(author, yaml.SequenceNode) else [author]
    for line in lines:
        if isinstance(line, yaml.ScalarNode) and not AUTHOR_WITH_HANDLE.search(line.value):
            edits.append((line.start_mark.index, line.end_mark.index,
                          yaml.safe_dump(f"{line.value} (@{NAMESPACE})", default_style=None).split("\n")[0]))
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    return re.sub(
        r"\bM\(([a-z0-9_]+)\)",
        lambda m: f"M({FQCN}.{m.group(1)})" if m.group(1) in modules else m.group(0),
        text,
    )


def mapping_get(node, key: str):
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if k.value == key:
                return v
    return None


def discover_roles(roles: Path) -> dict[Path, str]:
    """Maps each role directory under `roles` to its collection role name."""
    found: dict[Path, str] = {}
    if not roles.is_dir():
        return found
    for directory in sorted(p for p in roles.rglob("*") if p.is_dir()):
        if not any((directory / part).is_dir() for part in ROLE_PARTS):
            continue
        if any(parent in found for parent in directory.parents):
            continue  # a directory inside a role (tasks/loadbalancer/...)
        relative = directory.relative_to(roles).as_posix()
        name = relative.replace("/", "_").replace("-", "_")
        if not ROLE_NAME.match(name):
            raise BuildError(f"role {relative} maps to {name!r}, not a valid collection role name")
        if name in found.values():
            raise BuildError(f"two roles map to the collection role name {name}")
        found[directory] = name
    return found


def copy_role(source: Path, dest: Path, modules: list[str], role_refs: dict[str, str]) -> None:
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "molecule"))
    for path in dest.rglob("*"):
        if path.is_file() and path.suffix in (".yml", ".yaml"):
            text = path.read_text()
            new = rewrite(text, modules, role_refs)
            if new != text:
                path.write_text(new)


def rewrite(text: str, modules: list[str], roles: dict[str, str]) -> str:
    """Module and role references of the roles tree, rewritten for the collection."""
    text = re.sub(
        r"\bansible\.legacy\.([a-z0-9_]+)\b",
        lambda m: f"{FQCN}.{m.group(1)}" if m.group(1) in modules else m.group(0),
        text,
    )
    # A task's bare module key (`haproxy_config:`, as ansible-lint's canonical form for modules
    # in library/ has it): at the start of a line, after the indentation or a list dash.
    text = re.sub(
        r"^(\s*(?:-\s+)?)([a-z0-9_]+):(?=\s|$)",
        lambda m: f"{m.group(1)}{FQCN}.{m.group(2)}:" if m.group(2) in modules else m.group(0),
        text,
        flags=re.M,
    )
    return rewrite_role_references(text, roles)


def rewrite_role_references(text: str, roles: dict[str, str]) -> str:
    """Replaces, at their exact positions, the YAML scalars that name a role: items of
    `dependencies:` and `roles:` lists (bare or as `role:`/`name:`), and the `name:` of
    include_role/import_role. Other text (comments, task names, package names) is left alone."""
    try:
        document = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return text
    targets: list[yaml.ScalarNode] = []

    def role_item(node):
        if isinstance(node, yaml.ScalarNode):
            targets.append(node)
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value in ("role", "name") and isinstance(value, yaml.ScalarNode):
                    targets.append(value)

    def walk(node):
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value in ("dependencies", "roles") and isinstance(value, yaml.SequenceNode):
                    for item in value.value:
                        role_item(item)
                elif key.value in ROLE_KEYWORDS and isinstance(value, yaml.MappingNode):
                    for sub_key, sub_value in value.value:
                        if sub_key.value == "name" and isinstance(sub_value, yaml.ScalarNode):
                            targets.append(sub_value)
                walk(value)
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                walk(item)

    if document is not None:
        walk(document)
    # Replace from the end so earlier offsets stay valid.
    for node in sorted(targets, key=lambda n: n.start_mark.index, reverse=True):
        new = roles.get(node.value)
        if new is None:
            continue
        start, end = node.start_mark.index, node.end_mark.index
        quote = text[start] if text[start] in "'\"" else ""
        text = f"{text[:start]}{quote}{new}{quote}{text[end:]}"
    return text


def copy_static_files(root: Path) -> None:
    shutil.copyfile(HERE / "galaxy.yml", root / "galaxy.yml")
    shutil.copyfile(HERE / "README.md", root / "README.md")
    shutil.copytree(HERE / "meta", root / "meta")
    changelogs = HERE / "changelogs"
    if changelogs.is_dir():
        shutil.copytree(changelogs, root / "changelogs",
                        ignore=shutil.ignore_patterns(".plugin-cache.yaml"))
    for name in ("CHANGELOG.md", "CHANGELOG.rst"):
        if (HERE / name).is_file():
            shutil.copyfile(HERE / name, root / name)


def write_sanity_ignores(root: Path, modules: list[str]) -> None:
    """tests/sanity/ignore-<core>.txt: the documented entries of sanity/ignore-binary-module.txt, once
    per binary module (ansible-test rejects entries for files that do not exist, so they are
    written for the modules this build holds)."""
    template = (HERE / "sanity" / "ignore-binary-module.txt").read_text().splitlines()
    entries = [line for line in template if line.strip() and not line.lstrip().startswith("#")]
    lines = [entry.replace("{module}", module) for module in modules for entry in entries]
    sanity = root / "tests" / "sanity"
    sanity.mkdir(parents=True)
    for version in SANITY_VERSIONS:
        (sanity / f"ignore-{version}.txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
