/**
 * Running the host's network tools (ip, iptables, nft) from weftd: @weft/netbase's runner (tool-run.ts), under the
 * names weftd's modules use. Always an argv, never a shell, so lease data cannot inject commands.
 */
export {
  type ToolOptions as HostToolOptions,
  type ToolResult as HostToolResult,
  mustRunTool as mustRunHostTool,
  runTool as runHostTool,
} from '@weft/netbase';
