// statfs(2): Swift's Glibc module does not export <sys/vfs.h>, whose f_type tells a network file
// system from a local one (APOStore refuses a database on NFS, SMB, …). Darwin has it in
// <sys/mount.h>, which Foundation already exposes.
#if defined(__linux__)
#include <sys/vfs.h>
#else
#include <sys/param.h>
#include <sys/mount.h>
#endif
