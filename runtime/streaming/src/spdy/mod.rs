//! SPDY/3.1 as used by Kubernetes streaming (moby/spdystream): the frame
//! codec and a server-side session.

pub mod conn;
pub mod frame;
