//! Exports of a bop trace's happens-before graph for other tools and for people.
//!
//! A trace's events carry the graph already (`id`, `lane`, `vc`, `from`); [`Model::new`]
//! turns it into what every format draws: one **host** per lane, named after its node
//! ([`host_name`]: `server`, or `server.1`, `server.2` … when the node has several threads or
//! processes), the events in id order with clocks keyed by host, the edges, and for each event
//! the node at the other end ([`Peer`]) and one line of text ([`text::op_word`],
//! [`text::label`]) shared by all formats.
//!
//! The formats ([`Format`]):
//! - [`Format::Shiviz`]: a log for ShiViz (<https://bestchai.bitbucket.io/shiviz/>).
//! - [`Format::Dot`] / [`Format::Svg`]: Graphviz, one column per host; SVG runs `dot -Tsvg`.
//! - [`Format::Perfetto`]: Chrome Trace Event JSON for ui.perfetto.dev, with flow arrows.
//! - [`Format::Html`]: one self-contained page drawing the space-time diagram.
//! - [`Format::Json`]: the graph as plain JSON for other tools.

#![warn(missing_docs)]

mod dot;
mod html;
mod json;
mod model;
mod perfetto;
mod shiviz;
pub mod text;

use std::fmt;
use std::str::FromStr;

pub use dot::{dot, run_graphviz};
pub use html::html;
pub use json::json;
pub use model::{host_name, Ev, Host, Link, Model, Node, Peer};
pub use perfetto::perfetto;
pub use shiviz::{shiviz, SHIVIZ_REGEX};

/// An export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A ShiViz log (text).
    Shiviz,
    /// Graphviz source (text).
    Dot,
    /// Graphviz rendered to SVG by the `dot` program.
    Svg,
    /// Chrome Trace Event JSON for Perfetto.
    Perfetto,
    /// A self-contained HTML viewer.
    Html,
    /// The graph as JSON.
    Json,
}

impl Format {
    /// Every format, in the order the help lists them.
    pub const ALL: [Format; 6] = [
        Format::Shiviz,
        Format::Dot,
        Format::Svg,
        Format::Perfetto,
        Format::Html,
        Format::Json,
    ];

    /// The format's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Format::Shiviz => "shiviz",
            Format::Dot => "dot",
            Format::Svg => "svg",
            Format::Perfetto => "perfetto",
            Format::Html => "html",
            Format::Json => "json",
        }
    }

    /// The usual file extension of the format's output.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Shiviz => "shiviz",
            Format::Dot => "dot",
            Format::Svg => "svg",
            Format::Perfetto => "perfetto.json",
            Format::Html => "html",
            Format::Json => "json",
        }
    }

    /// Whether the output is meant for a viewer rather than a terminal or a pipe (written to a
    /// file by default).
    pub fn is_document(self) -> bool {
        matches!(self, Format::Svg | Format::Html)
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Format::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                let names: Vec<_> = Format::ALL.iter().map(|f| f.name()).collect();
                format!("unknown export format {s:?} (one of: {})", names.join(", "))
            })
    }
}

/// Why an export failed.
#[derive(Debug)]
pub enum ExportError {
    /// Graphviz's `dot` program is not installed (needed for SVG).
    GraphvizMissing,
    /// `dot` ran but failed: its message.
    Graphviz(String),
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExportError::GraphvizMissing => write!(
                f,
                "SVG export needs Graphviz's `dot` program, which is not installed: install it \
                 (Debian/Ubuntu: `apt-get install graphviz`), or export --format dot and render \
                 it elsewhere"
            ),
            ExportError::Graphviz(e) => write!(f, "Graphviz `dot -Tsvg` failed: {e}"),
        }
    }
}

impl std::error::Error for ExportError {}

/// Renders `model` in `format`. `title` names the trace (the page title, the graph label).
pub fn render(model: &Model, format: Format, title: &str) -> Result<Vec<u8>, ExportError> {
    Ok(match format {
        Format::Shiviz => shiviz(model).into_bytes(),
        Format::Dot => dot(model, title).into_bytes(),
        Format::Svg => run_graphviz(&dot(model, title))?.into_bytes(),
        Format::Perfetto => perfetto(model, title).into_bytes(),
        Format::Html => html(model, title).into_bytes(),
        Format::Json => json(model, title).into_bytes(),
    })
}

#[cfg(test)]
mod tests;
