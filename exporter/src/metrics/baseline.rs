//! The behaviour baseline's series, rendered from its snapshot. Learned items and deviations
//! are counted by kind only: item values (paths, addresses) never become label values.

use std::fmt::Write as _;

use super::{push_container_labels, push_escaped};
use crate::baseline::BaselineStats;

/// Appends `tracewarden_baseline_profiles{state}`, `tracewarden_baseline_items{image,kind}` and
/// `tracewarden_baseline_deviations_total{kind,<container labels>}`.
pub fn write_baseline_stats(out: &mut String, stats: &BaselineStats) {
    out.push_str("# HELP tracewarden_baseline_profiles Behaviour profiles by state (learning, enforcing).\n");
    out.push_str("# TYPE tracewarden_baseline_profiles gauge\n");
    for (state, n) in &stats.profiles {
        let _ = writeln!(out, "tracewarden_baseline_profiles{{state=\"{state}\"}} {n}");
    }
    out.push_str("# HELP tracewarden_baseline_items Items a profile learned, per profile key (image digest or reference) and kind.\n");
    out.push_str("# TYPE tracewarden_baseline_items gauge\n");
    for (image, kind, n) in &stats.items {
        out.push_str("tracewarden_baseline_items{image=\"");
        push_escaped(out, image);
        let _ = writeln!(out, "\",kind=\"{kind}\"}} {n}");
    }
    out.push_str("# HELP tracewarden_baseline_deviations_total Behaviour outside an enforcing profile, per kind and container (each new item is alerted once).\n");
    out.push_str("# TYPE tracewarden_baseline_deviations_total counter\n");
    let mut deviations: Vec<_> = stats.deviations.iter().collect();
    deviations.sort_by(|a, b| (a.0, &a.1.id).cmp(&(b.0, &b.1.id)));
    for (kind, container, n) in deviations {
        let _ = write!(out, "tracewarden_baseline_deviations_total{{kind=\"{kind}\",");
        push_container_labels(out, container);
        let _ = writeln!(out, "}} {n}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        baseline::item::Kind,
        container::{runtime::ContainerMeta, Container},
    };
    use std::sync::Arc;

    #[test]
    fn renders_counts_without_item_values() {
        let meta = ContainerMeta { name: "web".into(), image: "app:1".into(), ..Default::default() };
        let container = Arc::new(Container { id: "abc".into(), meta });
        let stats = BaselineStats {
            profiles: vec![("learning", 0), ("enforcing", 1)],
            items: vec![("app:1".into(), Kind::Exec, 3)],
            deviations: vec![(Kind::Write, container, 2)],
        };
        let mut out = String::new();
        write_baseline_stats(&mut out, &stats);
        for line in [
            "tracewarden_baseline_profiles{state=\"enforcing\"} 1",
            "tracewarden_baseline_items{image=\"app:1\",kind=\"exec\"} 3",
            "tracewarden_baseline_deviations_total{kind=\"write\",container_id=\"abc\",container_name=\"web\",image=\"app:1\",pod=\"\",namespace=\"\"} 2",
        ] {
            assert!(out.lines().any(|l| l == line), "{line} in\n{out}");
        }
    }
}
