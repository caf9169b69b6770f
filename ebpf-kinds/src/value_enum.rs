//! clap's `ValueEnum` for the tables' enums, so `--help` lists the values
//! (read from the tables, not written out again).

use clap::ValueEnum;
use clap::builder::PossibleValue;

use crate::{Arch, Direction, ProgramType, TYPES};

impl ValueEnum for ProgramType {
    fn value_variants<'a>() -> &'a [Self] {
        static ALL: std::sync::OnceLock<Vec<ProgramType>> = std::sync::OnceLock::new();
        ALL.get_or_init(|| TYPES.iter().map(|t| t.ty).collect())
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        // `raw-tracepoint` is accepted for `raw_tracepoint`; clap wants the
        // alias as a `&'static str`, made once per type.
        static VALUES: std::sync::OnceLock<Vec<PossibleValue>> = std::sync::OnceLock::new();
        let values = VALUES.get_or_init(|| {
            TYPES
                .iter()
                .map(|t| {
                    let value = PossibleValue::new(t.name).help(t.summary);
                    if t.name.contains('_') {
                        let dashed: &'static str = Box::leak(t.name.replace('_', "-").into());
                        value.alias(dashed)
                    } else {
                        value
                    }
                })
                .collect()
        });
        TYPES
            .iter()
            .position(|t| t.ty == *self)
            .map(|i| values[i].clone())
    }
}

impl ValueEnum for Direction {
    fn value_variants<'a>() -> &'a [Self] {
        &[Direction::Ingress, Direction::Egress]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.name()))
    }
}

impl ValueEnum for Arch {
    fn value_variants<'a>() -> &'a [Self] {
        &Arch::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.name()).alias(self.oci()))
    }
}
