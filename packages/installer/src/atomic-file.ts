/** Atomic file placement on the node (temp name, fsync, rename, fsync of the directory): the one implementation is @weft/netbase's. */
export { TEMP_PREFIX, copyFileDurable, removeStaleTemps, syncDirectory, tempPathFor, writeFileAtomic } from '@weft/netbase';
