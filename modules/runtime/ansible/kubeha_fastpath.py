# kubeha fast path: run a kubeha binary module in ONE connection round trip.
#
# Ansible never pipelines binary modules: every task makes a remote temp dir, copies the whole
# binary and an args file, chmods, runs and removes them (six round trips and a full copy).
# This action plugin instead keeps each binary on the host in a per-user cache keyed by its
# SHA-256, checks that hash on the host before every run (a tampered or truncated binary is never
# executed: it is replaced), and runs it with the JSON arguments on stdin. The binary is copied
# only when the host does not have that exact version yet.
#
# `make build` installs this file as action_plugins/<module>.py for every kubeha module, so each
# module name resolves to it. Everything else behaves as Ansible's own path: the same
# `_ansible_*` keys (Ansible's own code builds them), check mode, diff, no_log, become (also to an
# unprivileged user), `environment`. It falls back to Ansible's standard path when the fast path
# cannot apply (async tasks, become methods that cannot take stdin such as `su`, keep_remote_files)
# or when it is turned off:
#   - variable `kubeha_fastpath: false` (inventory, play, task vars), or
#   - environment `KUBEHA_FASTPATH=0` on the controller.
# Cache on the host: `kubeha_fastpath_cache` (default ~/.ansible/kubeha/bin of the user the module
# runs as), directories 0700, binaries 0700, named <module>-<sha256>. Remove the directory to clean
# it; old versions can be removed at any time.
from __future__ import annotations

import hashlib
import inspect
import json
import os
import shlex

from ansible import constants as C
from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display
from ansible.utils.vars import merge_hash

try:  # ansible-core 2.19+
    from ansible.module_utils.common.json import Direction, get_module_encoder
except ImportError:  # older cores: plain JSON
    Direction = get_module_encoder = None

display = Display()

DEFAULT_CACHE = "~/.ansible/kubeha/bin"
MISSING = "KUBEHA_FASTPATH_MISSING"
MISSING_RC = 97

# Controller-side hash cache: (path, size, mtime_ns) -> sha256 hex.
_HASHES: dict = {}


def _sha256(path: str) -> str:
    st = os.stat(path)
    key = (path, st.st_size, st.st_mtime_ns)
    if key not in _HASHES:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        _HASHES[key] = digest.hexdigest()
    return _HASHES[key]


def _sh_path(path: str) -> str:
    """A path for the remote shell; a leading ~/ means the home of the user the module runs as."""
    if path.startswith("~/"):
        return '"$HOME"/' + shlex.quote(path[2:])
    return shlex.quote(path)


def _truthy(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in ("0", "false", "no", "off", "n", "f", "")
    return bool(value)


class ActionModule(ActionBase):
    _supports_check_mode = True
    _supports_async = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        reason = self._standard_path_reason(task_vars)
        if not reason and not self._is_binary(self._find_binary(self._task.action)):
            reason = "the module found is not a binary module"
        if reason:
            display.vvv(f"kubeha fast path off for this task: {reason}")
            return self._standard_path(result, task_vars)
        return merge_hash(result, self._fast_path(task_vars))

    # --- deciding -----------------------------------------------------------------------------

    def _standard_path_reason(self, task_vars) -> str | None:
        setting = task_vars.get("kubeha_fastpath", os.environ.get("KUBEHA_FASTPATH", "1"))
        if not _truthy(self._templar.template(setting)):
            return "turned off (kubeha_fastpath / KUBEHA_FASTPATH)"
        if self._task.async_val:
            return "async task"
        if C.DEFAULT_KEEP_REMOTE_FILES:
            return "keep_remote_files is set"
        if not getattr(self._connection, "has_pipelining", False):
            return f"connection {self._connection.transport} cannot send stdin"
        become = self._connection.become
        if become and not getattr(become, "pipelining", True):
            return f"become method {become.name} cannot pass stdin"
        return None

    def _standard_path(self, result, task_vars):
        wrap_async = self._task.async_val and not self._connection.has_native_async
        result = merge_hash(result, self._execute_module(task_vars=task_vars, wrap_async=wrap_async))
        if not wrap_async:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result

    # --- the fast path ------------------------------------------------------------------------

    def _fast_path(self, task_vars):
        module_name = self._task.action
        module_args = self._task.args.copy()
        self._update_module_args(module_name, module_args, task_vars)
        local_path = self._find_binary(module_name)
        digest = _sha256(local_path)
        short_name = os.path.basename(local_path)
        cache = task_vars.get("kubeha_fastpath_cache", DEFAULT_CACHE)
        cache = self._templar.template(cache).rstrip("/")
        target = f"{cache}/{short_name}-{digest}"
        payload = self._encode(module_args)
        env = self._compute_environment_string()

        res = self._low_level_execute_command(self._run_script(target, digest, env), in_data=payload)
        if res.get("rc") == MISSING_RC and MISSING in res.get("stdout", ""):
            display.vvv(f"kubeha fast path: installing {short_name} ({digest[:12]}) in {cache}")
            res = self._install_and_run(local_path, cache, target, digest, env, payload)
        return self._parse(res)

    def _find_binary(self, module_name) -> str:
        loader = self._shared_loader_obj.module_loader
        found = loader.find_plugin_with_context(module_name, collection_list=self._task.collections)
        if not found.resolved or not found.plugin_resolved_path:
            raise AnsibleError(f"kubeha fast path: module {module_name} was not found on the controller")
        return found.plugin_resolved_path

    @staticmethod
    def _is_binary(path) -> bool:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"

    def _encode(self, module_args) -> bytes:
        if get_module_encoder is not None:
            encoder = get_module_encoder("legacy", Direction.CONTROLLER_TO_MODULE)
            return json.dumps(module_args, cls=encoder).encode()
        return json.dumps(module_args).encode()

    @staticmethod
    def _run_script(target, digest, env) -> str:
        # The hash is checked on the host before every run: a missing, truncated or tampered
        # binary is reported as missing (and replaced), never executed. stdin stays untouched
        # for the module (sha256sum reads the echo, not stdin).
        return (
            f"f={_sh_path(target)}; "
            f'if [ -f "$f" ] && [ -O "$f" ] && printf "%s  %s\\n" {digest} "$f" | sha256sum -c --status - 2>/dev/null; '
            f'then {env} exec "$f"; fi; echo {MISSING}; exit {MISSING_RC}'
        )

    def _install_and_run(self, local_path, cache, target, digest, env, payload):
        self._make_tmp_path()
        tmpdir = self._connection._shell.tmpdir
        staged = self._connection._shell.join_path(tmpdir, "kubeha-module")
        self._transfer_file(local_path, staged)
        self._fixup_perms2([tmpdir, staged], self._get_remote_user(), execute=False)
        quoted_cache, quoted_target = _sh_path(cache), _sh_path(target)
        script = (
            f"umask 077 && mkdir -p {quoted_cache} && chmod 0700 {quoted_cache} && "
            f"t=$(mktemp {quoted_cache}/.install.XXXXXX) && cp {shlex.quote(staged)} \"$t\" && "
            f'chmod 0700 "$t" && printf "%s  %s\\n" {digest} "$t" | sha256sum -c --status - && '
            f'mv -f "$t" {quoted_target} || {{ rm -f "$t"; echo "kubeha fast path: could not install the module in {cache}" >&2; exit 1; }}; '
            f"{self._run_script(target, digest, env)}"
        )
        try:
            return self._low_level_execute_command(script, in_data=payload)
        finally:
            self._remove_tmp_path(tmpdir)

    def _parse(self, res):
        params = inspect.signature(self._parse_returned_data).parameters
        if "profile" in params:
            data = self._parse_returned_data(res, "legacy")
        else:
            data = self._parse_returned_data(res)
        from ansible.vars.clean import remove_internal_keys

        remove_internal_keys(data)
        return data
