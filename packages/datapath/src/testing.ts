/**
 * @weft/datapath/testing: the datapath's test doubles, kept out of the production entry point. ChannelTap and
 * ChannelUdp are in-memory ports (the real routines run over them); ChannelNetwork joins VTEPs without a kernel;
 * FakeVtep records what the control plane asks of a VTEP.
 */
export { ChannelTap, ChannelUdp, ChannelNetwork, type ChannelDatagram } from './channel.js';
export { FakeVtep } from './fake-vtep.js';
