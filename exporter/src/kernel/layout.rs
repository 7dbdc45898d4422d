//! Field offsets of the kernel structures the kernel programs read: the walk that names an
//! opened file (`task->files->fdt->fd[n]->f_path`, dentries up to the task's root, across
//! mounts), the opened file's inode, the executable (`mm->exe_file`) and the effective ids
//! (`cred`), read from the kernel's BTF. aya-ebpf has no CO-RE relocations, so user space looks the offsets up here
//! and hands them to the kernel in a map; a kernel whose BTF lacks one of them gets no path walk
//! (opened files are then judged by the path the caller passed, resolved in user space).

use exporter_ebpf::{KernelOffsets, SocketOffsets};

const BTF_MAGIC: u16 = 0xeb9f;
const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LayoutError {
    #[error("not BTF data (bad magic or header)")]
    NotBtf,
    #[error("BTF truncated")]
    Truncated,
    #[error("BTF has no struct {0}")]
    NoStruct(String),
    #[error("BTF struct {0} has no member {1}")]
    NoMember(String, String),
}

/// The offsets the kernel programs need, from raw BTF (`/sys/kernel/btf/vmlinux`). A member may
/// sit inside anonymous structs or unions; its offset is then the sum along the way.
pub fn offsets(btf: &[u8]) -> Result<KernelOffsets, LayoutError> {
    let types = Types::parse(btf)?;
    let at = |strukt: &str, member: &str| types.member_offset(strukt, member);
    Ok(KernelOffsets {
        task_files: at("task_struct", "files")?,
        task_fs: at("task_struct", "fs")?,
        files_fdt: at("files_struct", "fdt")?,
        fdt_max_fds: at("fdtable", "max_fds")?,
        fdt_fd: at("fdtable", "fd")?,
        file_path: at("file", "f_path")?,
        path_mnt: at("path", "mnt")?,
        path_dentry: at("path", "dentry")?,
        fs_root: at("fs_struct", "root")?,
        fs_pwd: at("fs_struct", "pwd")?,
        dentry_parent: at("dentry", "d_parent")?,
        dentry_name: at("dentry", "d_name")?,
        qstr_len: at("qstr", "len")?,
        qstr_name: at("qstr", "name")?,
        mount_mnt: at("mount", "mnt")?,
        mount_parent: at("mount", "mnt_parent")?,
        mount_mountpoint: at("mount", "mnt_mountpoint")?,
        vfsmount_root: at("vfsmount", "mnt_root")?,
        file_inode: at("file", "f_inode")?,
        inode_ino: at("inode", "i_ino")?,
        inode_sb: at("inode", "i_sb")?,
        inode_nlink: at("inode", "i_nlink")?,
        inode_mode: at("inode", "i_mode")?,
        sb_dev: at("super_block", "s_dev")?,
        task_mm: at("task_struct", "mm")?,
        mm_exe_file: at("mm_struct", "exe_file")?,
        task_cred: at("task_struct", "cred")?,
        cred_euid: at("cred", "euid")?,
        cred_egid: at("cred", "egid")?,
        cred_cap_effective: at("cred", "cap_effective")?,
        cred_cap_permitted: at("cred", "cap_permitted")?,
        task_start_boottime: at("task_struct", "start_boottime")?,
        task_thread_pid: at("task_struct", "thread_pid")?,
        pid_level: at("pid", "level")?,
        pid_numbers: at("pid", "numbers")?,
        upid_nr: at("upid", "nr")?,
        upid_size: types.struct_size("upid")?,
        valid: 1,
    })
}

/// The offsets that describe the socket behind a descriptor (family, type, protocol, state, both
/// ends), from raw BTF.
pub fn socket_offsets(btf: &[u8]) -> Result<SocketOffsets, LayoutError> {
    let types = Types::parse(btf)?;
    let at = |strukt: &str, member: &str| types.member_offset(strukt, member);
    // `struct sock` starts with its `sock_common`; the `skc_*` members are read from the sock.
    let common = at("sock", "__sk_common")?;
    let skc = |member: &str| at("sock_common", member).map(|o| common + o);
    Ok(SocketOffsets {
        file_private_data: at("file", "private_data")?,
        socket_sk: at("socket", "sk")?,
        skc_family: skc("skc_family")?,
        skc_state: skc("skc_state")?,
        skc_daddr: skc("skc_daddr")?,
        skc_rcv_saddr: skc("skc_rcv_saddr")?,
        skc_dport: skc("skc_dport")?,
        skc_num: skc("skc_num")?,
        skc_v6_daddr: skc("skc_v6_daddr")?,
        skc_v6_rcv_saddr: skc("skc_v6_rcv_saddr")?,
        sk_type: at("sock", "sk_type")?,
        sk_protocol: at("sock", "sk_protocol")?,
        valid: 1,
    })
}

/// The parts of BTF a member look-up needs: each type's kind, name and (for structs and unions)
/// members as (name, type id, byte offset).
struct Types<'a> {
    strings: &'a [u8],
    /// Indexed by type id (id 0 is `void`).
    kinds: Vec<TypeInfo>,
}

struct TypeInfo {
    kind: u32,
    name_off: u32,
    /// The referenced type of pointers, typedefs and modifiers (the size of others).
    type_ref: u32,
    members: Vec<(u32, u32, u32)>,
}

impl<'a> Types<'a> {
    fn parse(data: &'a [u8]) -> Result<Types<'a>, LayoutError> {
        let u16_at = |at: usize| data.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
        let u32_at = |at: usize| data.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        if u16_at(0) != Some(BTF_MAGIC) {
            return Err(LayoutError::NotBtf);
        }
        let header = |i: usize| u32_at(4 + 4 * i).map(|v| v as usize).ok_or(LayoutError::NotBtf);
        let (hdr_len, type_off, type_len, str_off, str_len) =
            (header(0)?, header(1)?, header(2)?, header(3)?, header(4)?);
        let types = data.get(hdr_len + type_off..hdr_len + type_off + type_len).ok_or(LayoutError::Truncated)?;
        let strings = data.get(hdr_len + str_off..hdr_len + str_off + str_len).ok_or(LayoutError::Truncated)?;
        let word = |at: usize| {
            types.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])).ok_or(LayoutError::Truncated)
        };
        let mut kinds = vec![TypeInfo { kind: 0, name_off: 0, type_ref: 0, members: Vec::new() }];
        let mut at = 0;
        while at < types.len() {
            let (name_off, info, type_ref) = (word(at)?, word(at + 4)?, word(at + 8)?);
            let (kind, vlen, kind_flag) = ((info >> 24) & 0x1f, (info & 0xffff) as usize, info >> 31 == 1);
            at += 12;
            let mut members = Vec::new();
            // Bytes of kind-specific data after the 12-byte common header (BTF spec, btf.rst).
            let extra = match kind {
                1 | 14 | 17 => 4, // INT, VAR, DECL_TAG
                3 => 12,          // ARRAY
                KIND_STRUCT | KIND_UNION => {
                    for m in 0..vlen {
                        let base = at + 12 * m;
                        let raw = word(base + 8)?;
                        // With kind_flag the offset word also holds a bitfield size in its top byte.
                        let bits = if kind_flag { raw & 0x00ff_ffff } else { raw };
                        members.push((word(base)?, word(base + 4)?, bits / 8));
                    }
                    12 * vlen
                }
                6 => 8 * vlen,   // ENUM
                13 => 8 * vlen,  // FUNC_PROTO
                15 => 12 * vlen, // DATASEC
                19 => 12 * vlen, // ENUM64
                _ => 0,          // PTR, FWD, TYPEDEF, modifiers, FUNC, FLOAT, TYPE_TAG
            };
            at += extra;
            kinds.push(TypeInfo { kind, name_off, type_ref, members });
        }
        Ok(Types { strings, kinds })
    }

    fn name(&self, off: u32) -> &[u8] {
        let rest = self.strings.get(off as usize..).unwrap_or_default();
        &rest[..rest.iter().position(|&b| b == 0).unwrap_or(rest.len())]
    }

    fn is_aggregate(&self, id: u32) -> bool {
        self.kinds.get(id as usize).is_some_and(|t| matches!(t.kind, KIND_STRUCT | KIND_UNION))
    }

    fn member_offset(&self, strukt: &str, member: &str) -> Result<u32, LayoutError> {
        let id = self.struct_id(strukt)?;
        self.find_member(id, member.as_bytes(), 0)
            .ok_or_else(|| LayoutError::NoMember(strukt.to_owned(), member.to_owned()))
    }

    /// The byte size of a struct (BTF keeps it where other kinds keep a type reference).
    fn struct_size(&self, strukt: &str) -> Result<u32, LayoutError> {
        Ok(self.kinds[self.struct_id(strukt)? as usize].type_ref)
    }

    /// The first complete struct of that name (forward declarations have no members).
    fn struct_id(&self, strukt: &str) -> Result<u32, LayoutError> {
        (0..self.kinds.len() as u32)
            .find(|&id| {
                let t = &self.kinds[id as usize];
                t.kind == KIND_STRUCT && !t.members.is_empty() && self.name(t.name_off) == strukt.as_bytes()
            })
            .ok_or_else(|| LayoutError::NoStruct(strukt.to_owned()))
    }

    /// Depth-first through anonymous members; `depth` bounds malformed input.
    fn find_member(&self, id: u32, member: &[u8], depth: u32) -> Option<u32> {
        if depth > 8 {
            return None;
        }
        let t = self.kinds.get(id as usize)?;
        for &(name_off, type_id, offset) in &t.members {
            let name = self.name(name_off);
            if name == member {
                return Some(offset);
            }
            if name.is_empty() && self.is_aggregate(self.resolve(type_id)) {
                if let Some(inner) = self.find_member(self.resolve(type_id), member, depth + 1) {
                    return Some(offset + inner);
                }
            }
        }
        None
    }

    /// Skips typedefs and modifiers (const, volatile, restrict, type tags) to the real type.
    fn resolve(&self, mut id: u32) -> u32 {
        for _ in 0..16 {
            match self.kinds.get(id as usize) {
                // TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG
                Some(t) if matches!(t.kind, 8..=11 | 18) => id = t.type_ref,
                _ => break,
            }
        }
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_of_the_running_kernel_are_plausible() {
        let vmlinux = std::fs::read("/sys/kernel/btf/vmlinux").map_err(|e| format!("/sys/kernel/btf/vmlinux: {e}"));
        let Some(btf) = crate::prerequisite::needs("offsets_of_the_running_kernel_are_plausible", vmlinux) else {
            return;
        };
        let o = offsets(&btf).expect("offsets from vmlinux BTF");
        // Stable for a decade: struct path { vfsmount *mnt; dentry *dentry; } and
        // struct qstr { union { struct { u32 hash; u32 len; }; u64 hash_len; }; const char *name; }.
        assert_eq!((o.path_mnt, o.path_dentry), (0, 8));
        assert_eq!((o.qstr_len, o.qstr_name), (4, 8));
        // struct upid { int nr; struct pid_namespace *ns; }.
        assert_eq!((o.upid_nr, o.upid_size), (0, 16));
        assert_eq!(o.fs_pwd, o.fs_root + 16, "pwd follows root in fs_struct");
        assert!(o.task_files > 0 && o.task_fs > 0 && o.dentry_name > o.dentry_parent);
        assert_eq!(o.valid, 1);
    }

    /// Stable since the IPv6 members joined `sock_common` (3.x): the address pair, then the port
    /// pair, each local half after the remote one.
    #[test]
    fn socket_offsets_of_the_running_kernel_are_plausible() {
        let vmlinux = std::fs::read("/sys/kernel/btf/vmlinux").map_err(|e| format!("/sys/kernel/btf/vmlinux: {e}"));
        let Some(btf) = crate::prerequisite::needs("socket_offsets_of_the_running_kernel_are_plausible", vmlinux)
        else {
            return;
        };
        let s = socket_offsets(&btf).expect("socket offsets from vmlinux BTF");
        assert_eq!((s.skc_daddr, s.skc_rcv_saddr), (0, 4));
        assert_eq!((s.skc_dport, s.skc_num), (12, 14));
        assert_eq!(s.skc_v6_rcv_saddr, s.skc_v6_daddr + 16);
        assert!(s.sk_type > s.skc_v6_rcv_saddr && s.file_private_data > 0);
        assert_eq!(s.valid, 1);
    }

    #[test]
    fn refuses_what_is_not_btf() {
        assert_eq!(offsets(b"not btf at all, clearly").unwrap_err(), LayoutError::NotBtf);
        let mut header = vec![0x9f, 0xeb, 1, 0, 24, 0, 0, 0];
        header.extend([0, 0, 0, 0, 100, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(offsets(&header).unwrap_err(), LayoutError::Truncated);
    }

    #[test]
    fn names_what_is_missing() {
        // A valid BTF blob with one struct `path { mnt; }`: the first member missing is reported.
        let strings = b"\0path\0mnt\0".to_vec();
        let mut types = Vec::new();
        for w in [1u32, (KIND_STRUCT << 24) | 1, 8, 6, 0, 0] {
            types.extend(w.to_le_bytes());
        }
        let mut blob = vec![0x9f, 0xeb, 1, 0];
        for w in [24u32, 0, types.len() as u32, types.len() as u32, strings.len() as u32] {
            blob.extend(w.to_le_bytes());
        }
        blob.extend(&types);
        blob.extend(&strings);
        assert_eq!(offsets(&blob).unwrap_err(), LayoutError::NoStruct("task_struct".into()));
        assert_eq!(Types::parse(&blob).unwrap().member_offset("path", "mnt"), Ok(0));
    }
}
