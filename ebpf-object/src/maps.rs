//! Map types: the kernel's numbers, the names libbpf and bpfman use for them,
//! the first kernel that has them, and how the runtime shows their contents.

use serde::{Deserialize, Serialize};

/// How a map's contents are shown when nothing else reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Display {
    /// Records streamed through a ring buffer or perf event array, decoded
    /// through the record's BTF struct.
    Events,
    /// Keys and values printed periodically (per-CPU values summed).
    Counters,
    /// Values are counts per log2 bucket (index = bucket), printed as a
    /// histogram. Chosen in ebpf.toml (`display = "log2_histogram"`).
    Log2Histogram,
    /// Not shown (program arrays, maps of maps, sockets, ...).
    Hidden,
}

/// A row of the map type table.
pub struct MapType {
    pub id: u32,
    /// libbpf's name (`libbpf_bpf_map_type_str`), also bpfman's.
    pub name: &'static str,
    pub min_kernel: (u32, u32),
    pub display: Display,
}

const fn row(id: u32, name: &'static str, min_kernel: (u32, u32), display: Display) -> MapType {
    MapType {
        id,
        name,
        min_kernel,
        display,
    }
}

use Display::*;

pub static MAP_TYPES: &[MapType] = &[
    row(1, "hash", (3, 19), Counters),
    row(2, "array", (3, 19), Counters),
    row(3, "prog_array", (4, 2), Hidden),
    row(4, "perf_event_array", (4, 3), Events),
    row(5, "percpu_hash", (4, 6), Counters),
    row(6, "percpu_array", (4, 6), Counters),
    row(7, "stack_trace", (4, 6), Hidden),
    row(8, "cgroup_array", (4, 8), Hidden),
    row(9, "lru_hash", (4, 10), Counters),
    row(10, "lru_percpu_hash", (4, 10), Counters),
    row(11, "lpm_trie", (4, 11), Counters),
    row(12, "array_of_maps", (4, 12), Hidden),
    row(13, "hash_of_maps", (4, 12), Hidden),
    row(14, "devmap", (4, 14), Hidden),
    row(15, "sockmap", (4, 14), Hidden),
    row(16, "cpumap", (4, 15), Hidden),
    row(17, "xskmap", (4, 18), Hidden),
    row(18, "sockhash", (4, 18), Hidden),
    row(19, "cgroup_storage", (4, 19), Hidden),
    row(20, "reuseport_sockarray", (4, 19), Hidden),
    row(21, "percpu_cgroup_storage", (4, 20), Hidden),
    row(22, "queue", (4, 20), Hidden),
    row(23, "stack", (4, 20), Hidden),
    row(24, "sk_storage", (5, 2), Hidden),
    row(25, "devmap_hash", (5, 4), Hidden),
    row(26, "struct_ops", (5, 6), Hidden),
    row(27, "ringbuf", (5, 8), Events),
    row(28, "inode_storage", (5, 10), Hidden),
    row(29, "task_storage", (5, 11), Hidden),
    row(30, "bloom_filter", (5, 16), Hidden),
    row(31, "user_ringbuf", (6, 1), Hidden),
    row(32, "cgrp_storage", (6, 2), Hidden),
    row(33, "arena", (6, 9), Hidden),
];

impl MapType {
    /// bpfman's name (its `MapType` display names), for the `io.ebpf.maps`
    /// label: libbpf's, but `per_cpu` where libbpf writes `percpu`.
    pub const fn bpfman(&self) -> &'static str {
        match self.id {
            5 => "per_cpu_hash",
            6 => "per_cpu_array",
            10 => "lru_per_cpu_hash",
            21 => "per_cpu_cgroup_storage",
            _ => self.name,
        }
    }
}

/// The row for kernel map type `id`.
pub fn by_id(id: u32) -> Option<&'static MapType> {
    MAP_TYPES.iter().find(|t| t.id == id)
}

/// The row called `name`.
pub fn by_name(name: &str) -> Option<&'static MapType> {
    MAP_TYPES.iter().find(|t| t.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_the_kernels_in_order() {
        for (i, t) in MAP_TYPES.iter().enumerate() {
            assert_eq!(t.id as usize, i + 1, "{}", t.name);
        }
        assert_eq!(by_name("ringbuf").unwrap().id, 27);
    }

    #[test]
    fn bpfman_spells_per_cpu_apart() {
        let bpfman = |n| by_name(n).unwrap().bpfman();
        assert_eq!(bpfman("percpu_array"), "per_cpu_array");
        assert_eq!(bpfman("percpu_hash"), "per_cpu_hash");
        assert_eq!(bpfman("lru_percpu_hash"), "lru_per_cpu_hash");
        assert_eq!(bpfman("percpu_cgroup_storage"), "per_cpu_cgroup_storage");
        assert_eq!(bpfman("ringbuf"), "ringbuf");
        for t in MAP_TYPES {
            assert!(!t.bpfman().contains("percpu"), "{}", t.name);
        }
    }
}
