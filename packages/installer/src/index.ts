/**
 * @weft/installer: puts weft's CNI plugin and conflist on a node. The run-time surface only (node built-ins and
 * pino); the build-time plugin builder is `@weft/installer/build`.
 */
export { writeFileAtomic, removeStaleTemps, TEMP_PREFIX } from '@weft/netbase';
export { programRuntime, loaderFromMaps, parseLoaderList, type ProgramRuntime, type SharedLibrary } from './shared-libraries.js';
export { PAYLOAD_DIR, EXECUTABLE_NAME, planPayload, placePayload, prunePayloads, type PayloadPlan } from './plugin-payload.js';
export { renderLauncher, launcherPayloadId } from './launcher.js';
export { installPlugin, installedPayloadId, PLUGIN_NAME, type PluginInstallResult } from './install-plugin.js';
export { installConflist, parseConflist, CNI_VERSIONS, type Conflist, type ConflistInstallResult } from './install-conflist.js';
