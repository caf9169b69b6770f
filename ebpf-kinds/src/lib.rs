//! The one owner of program-type facts.
//!
//! Templates, `build`, packaging, the runtime and the docs all read these
//! tables: which ELF section names belong to a type, how it is attached,
//! which run-time arguments attaching takes (required or not, with their
//! defaults), where a program ends up attached, what the kernel must offer,
//! the name bpfman uses, and the architectures packages are built for.
//! Nothing else in the project keeps its own copy of these facts.

mod arch;
mod args;
mod doc;
mod point;
mod section;
mod types;
#[cfg(feature = "clap")]
mod value_enum;

pub use arch::{Arch, UnknownArch};
pub use args::{ArgSpec, AttachArg, Direction};
pub use doc::{markdown_table, runtime_table};
pub use point::{AttachPoint, usdt_target};
pub use section::{Section, classify_section};
pub use types::{KernelNeed, Output, ProgramType, TYPES, TypeInfo, UnknownType};
