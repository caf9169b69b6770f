//! Values of described types: decoded from raw bytes (JSON or table cells)
//! and encoded from text.

mod decode;
mod encode;
