// errno values the kernel layer tests for or reports itself, by their names in asm-generic/errno-base.h and
// asm-generic/errno.h (the numbering every architecture we build for, x86_64 and aarch64, uses). Errors that come
// back from the kernel are named by KernelError (errors.ts); these are the ones code here must compare or choose.

/** Interrupted system call: the call is simply made again. */
export const EINTR = 4;
/** I/O error: what a failed send reports when it set no errno of its own. */
export const EIO = 5;
/** Try again: nothing to read (or room to write) on a non-blocking socket, or a receive timeout (SO_RCVTIMEO). */
export const EAGAIN = 11;
/** Invalid argument: a request the kernel would refuse, refused before it is sent (a route's gateway family). */
export const EINVAL = 22;
/** No such device: a link that vanished right after it was created. */
export const ENODEV = 19;
/** Network is unreachable: no route to the destination (yet). */
export const ENETUNREACH = 101;
/** Connection timed out: how a netlink request that got no answer before SO_RCVTIMEO is reported. */
export const ETIMEDOUT = 110;
/** No route to host: the neighbour did not answer (ARP) or an ICMP unreachable came back. */
export const EHOSTUNREACH = 113;
