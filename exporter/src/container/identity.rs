//! Whose cgroup a path is, believing the runtime rather than the path: a container id in a
//! cgroup's name is only that container when the runtime's own record places the container at
//! that cgroup (or above it: a container's processes may sit in child cgroups of its own). A
//! process allowed to make cgroups below its own (a delegated subtree) can name one like any
//! container (`.../<its own>/docker/<victim id>`); such a name is not believed.

use crate::container::{
    cgroup_path::container_id_from_cgroup_path,
    runtime::{RuntimeIndex, RuntimeRecord},
};

/// What a cgroup path is, by the runtime's records.
#[derive(Debug, PartialEq, Eq)]
pub enum Identity<'a> {
    /// The container whose record names this cgroup or one above it.
    Confirmed(&'a RuntimeRecord),
    /// The path names a container no record knows (yet): a runtime whose state is not read
    /// here, or one that has not written it. Taken for what the path says.
    Unrecorded(&'a str),
    /// The path names a container `claimed` that no record places here: it lies inside
    /// `enclosing` (None: inside no container a record knows), and is that one.
    Refused { claimed: &'a str, enclosing: Option<&'a RuntimeRecord> },
    /// No container at all.
    Host,
}

/// Identifies the cgroup at `path` (relative to the cgroup v2 mount, starting with '/').
pub fn identify<'a>(path: &'a str, index: &'a RuntimeIndex) -> Identity<'a> {
    match enclosing_record(path, index) {
        Some((record, record_path)) => {
            // Only a container id below the record's own cgroup is a claim of its own: the
            // record's path may well carry an id (a runc container named anything, at a
            // docker-style path).
            match container_id_from_cgroup_path(&path[record_path.len()..]) {
                Some(claimed) if claimed != record.id => Identity::Refused { claimed, enclosing: Some(record) },
                _ => Identity::Confirmed(record),
            }
        }
        None => match container_id_from_cgroup_path(path) {
            // Its record places it elsewhere: another cgroup borrowing its name.
            Some(claimed) if index.by_id(claimed).is_some_and(|r| r.cgroup_path.is_some()) => {
                Identity::Refused { claimed, enclosing: None }
            }
            Some(claimed) => Identity::Unrecorded(claimed),
            None => Identity::Host,
        },
    }
}

/// The record whose cgroup is `path` or the nearest one above it, with that cgroup's path.
fn enclosing_record<'a>(path: &'a str, index: &'a RuntimeIndex) -> Option<(&'a RuntimeRecord, &'a str)> {
    let mut at = path;
    loop {
        if let Some(record) = index.by_cgroup_path(at) {
            return Some((record, at));
        }
        match at.rfind('/') {
            Some(0) | None => return None,
            Some(cut) => at = &at[..cut],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::runtime::ContainerMeta;

    const VICTIM: &str = "3f2c9a61e0b74d5c8a1f6e2d9b0c7a4e5f1d2c3b4a5968778695a4b3c2d1e0f9";
    const ATTACKER: &str = "a7a6f0c797011111111111111111111111111111111111111111111111111111";

    fn record(id: &str, path: Option<&str>) -> RuntimeRecord {
        RuntimeRecord {
            id: id.into(),
            cgroup_path: path.map(str::to_owned),
            meta: ContainerMeta { name: format!("name-of-{}", &id[..4]), ..ContainerMeta::default() },
        }
    }

    fn index() -> RuntimeIndex {
        RuntimeIndex::from_records([
            record(VICTIM, Some(&format!("/docker/{VICTIM}"))),
            record(ATTACKER, Some(&format!("/kubepods/besteffort/pod1/{ATTACKER}"))),
            // A plain runc container named anything, at a docker-style path.
            record("web1", Some(&format!("/docker/{}", "b".repeat(64)))),
        ])
    }

    fn id_of<'a>(identity: &Identity<'a>) -> (&'a str, &'static str) {
        match identity {
            Identity::Confirmed(r) => (&r.id, "confirmed"),
            Identity::Unrecorded(id) => (id, "unrecorded"),
            Identity::Refused { enclosing: Some(r), .. } => (&r.id, "refused"),
            Identity::Refused { enclosing: None, .. } => ("", "refused"),
            Identity::Host => ("host", "host"),
        }
    }

    #[test]
    fn a_record_confirms_its_cgroup_and_the_cgroups_below_it() {
        let index = index();
        for (path, want) in [
            (format!("/docker/{VICTIM}"), VICTIM),
            (format!("/docker/{VICTIM}/init.scope"), VICTIM),
            (format!("/kubepods/besteffort/pod1/{ATTACKER}"), ATTACKER),
            (format!("/docker/{}", "b".repeat(64)), "web1"),
        ] {
            assert_eq!(id_of(&identify(&path, &index)), (want, "confirmed"), "{path}");
        }
    }

    #[test]
    fn a_cgroup_named_like_another_container_is_the_one_it_lies_in() {
        let index = index();
        let attacker = format!("/kubepods/besteffort/pod1/{ATTACKER}");
        for path in [
            format!("{attacker}/docker/{VICTIM}"),
            format!("{attacker}/system.slice/docker-{VICTIM}.scope"),
            // An id no record knows, below a known container, is not believed either.
            format!("{attacker}/docker/{}", "c".repeat(64)),
        ] {
            assert_eq!(id_of(&identify(&path, &index)), (ATTACKER, "refused"), "{path}");
        }
        // Outside any known container (a host user's delegated subtree): not the victim.
        let host_user = format!("/user.slice/user-1000.slice/user@1000.service/docker/{VICTIM}");
        assert_eq!(identify(&host_user, &index), Identity::Refused { claimed: VICTIM, enclosing: None });
    }

    #[test]
    fn unrecorded_ids_and_host_cgroups() {
        let index = index();
        let fresh = "d".repeat(64);
        assert_eq!(identify(&format!("/docker/{fresh}"), &index), Identity::Unrecorded(&fresh));
        assert_eq!(identify("/system.slice/sshd.service", &index), Identity::Host);
        assert_eq!(identify("/", &index), Identity::Host);
    }
}
