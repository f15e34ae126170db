/**
 * The `weft` launcher the container runtime executes: a few lines of POSIX sh.
 *
 * It finds the payload beside itself (`${0%/*}` is the directory the runtime found it in, whatever the CNI bin dir
 * is: /opt/cni/bin, k3s's data dir, ...), clears the variables that would make the host's loader or Node settings
 * leak into ours, and execs the payload's glibc loader on the payload's plugin executable. Only shell builtins
 * run before the exec (no fork), so the launcher adds about a millisecond to the plugin's start-up.
 */
import { EXECUTABLE_NAME, PAYLOAD_DIR } from './plugin-payload.js';

const PAYLOAD_LINE = /^weft_payload=([0-9a-f]+)$/m;

export interface LauncherSpec {
  /** Payload id (directory name under weft.d). */
  id: string;
  /** File name of glibc's loader inside the payload's lib/. */
  loaderName: string;
}

export function renderLauncher(spec: LauncherSpec): string {
  return `#!/bin/sh
# weft CNI plugin launcher, written by weft-install-cni; replaced atomically on upgrade, do not edit.
# Runs the plugin (a Node.js single executable) on the C libraries in ${PAYLOAD_DIR}/: the host needs no Node.js.
weft_payload=${spec.id}
case $0 in
  */*) weft_bin_dir=\${0%/*} ;;
  *) weft_bin_dir=$(command -v -- "$0") && weft_bin_dir=\${weft_bin_dir%/*} ;;
esac
weft_dir=$weft_bin_dir/${PAYLOAD_DIR}/$weft_payload
unset LD_PRELOAD LD_LIBRARY_PATH LD_AUDIT NODE_OPTIONS NODE_PATH NODE_EXTRA_CA_CERTS
exec "$weft_dir/lib/${spec.loaderName}" --library-path "$weft_dir/lib" "$weft_dir/${EXECUTABLE_NAME}" "$@"
`;
}

/** The payload id an installed launcher runs, or undefined when the text is not one of our launchers. */
export function launcherPayloadId(text: string): string | undefined {
  return PAYLOAD_LINE.exec(text)?.[1];
}
