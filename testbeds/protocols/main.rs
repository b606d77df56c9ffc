//! `tb-proto`: the protocol suite of the LDFI paper (Alvaro, Rosen, Hellerstein, "Lineage-driven
//! fault injection", SIGMOD 2015) as real networked programs, for `bop run` and `bop explore`.
//!
//! Usage:
//!
//! ```text
//! tb-proto PROTOCOL ROLE NAME PEERS
//! ```
//!
//! * PROTOCOL: `simple-deliv`, `retry-deliv`, `redun-deliv`, `ack-deliv`, `classic-deliv`,
//!   `2pc`, `2pc-ctp`, `3pc`, `kafka` or `paxos`;
//! * ROLE: the part this process plays (`broadcaster`, `replica`, `coordinator`, `agent`,
//!   `node`, …), or `client`: the non-daemon node that drives the protocol and is its oracle;
//! * NAME: this node's name, the same as in the cluster file (fault rules and messages use it);
//! * PEERS: every participant as `name=port`, comma-separated (the client has no port of its
//!   own and is not listed), e.g. `b=7700,r1=7701,r2=7702`.
//!
//! Every protocol message travels on a connection of its own (connect, one framed write, close),
//! so that losing one message (`drop A -> B #N`) loses just that message, as in the paper's
//! model. The client exits 0 when the protocol kept its promise, 1 with a `VIOLATION` line on
//! stderr when it did not, 2 on a usage error. See testbeds/protocols/README.md.

mod commit;
mod deliv;
mod kafka;
mod net;
mod paxos;

use std::process::exit;

use net::Peers;

const USAGE: &str = "usage: tb-proto PROTOCOL ROLE NAME PEERS\n\
  PROTOCOL: simple-deliv retry-deliv redun-deliv ack-deliv classic-deliv 2pc 2pc-ctp 3pc kafka paxos\n\
  ROLE:     broadcaster|replica|client (deliv), coordinator|agent|client (2pc, 2pc-ctp, 3pc),\n\
            replica|client (kafka: the first peer leads), node|client (paxos)\n\
  NAME:     this node's name in the cluster file\n\
  PEERS:    the participants as name=port,name=port,... (the client is not one of them)";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [protocol, role, name, peers] = args.as_slice() else {
        usage_error("expected 4 arguments");
    };
    let peers = Peers::parse(peers).unwrap_or_else(|e| usage_error(&e));
    let result = match protocol.as_str() {
        "simple-deliv" | "retry-deliv" | "redun-deliv" | "ack-deliv" | "classic-deliv" => {
            deliv::main(protocol, role, name, peers)
        }
        "2pc" | "2pc-ctp" | "3pc" => commit::main(protocol, role, name, peers),
        "kafka" => kafka::main(role, name, peers),
        "paxos" => paxos::main(role, name, peers),
        other => usage_error(&format!("unknown protocol {other:?}")),
    };
    if let Err(e) = result {
        eprintln!("tb-proto {protocol} {name}: error: {e}");
        exit(1);
    }
}

/// Prints the usage with `message` and exits 2.
pub fn usage_error(message: &str) -> ! {
    eprintln!("tb-proto: {message}\n{USAGE}");
    exit(2)
}
