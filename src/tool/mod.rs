//! Offline inspection and repair for the `shale` tool, on a closed database directory:
//! [`verify`](verify::verify), the `dump_*` readers, and [`repair`](repair::repair).
//! Nothing here is used by the engine itself; it reads through the same decoders.

pub mod dump;
pub mod repair;
pub mod verify;
