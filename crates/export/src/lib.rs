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
//! - [`Format::Dot`]: Graphviz source, one cluster per host (for `dot -Tsvg` and friends).
//! - [`Format::Svg`]: the space-time diagram drawn by bop itself ([`svg()`]): no Graphviz, and
//!   fast at any size.
//! - [`Format::Perfetto`]: Chrome Trace Event JSON for ui.perfetto.dev, with flow arrows.
//! - [`Format::Html`]: one self-contained page drawing the space-time diagram.
//! - [`Format::Json`]: the graph as plain JSON for other tools.
//!
//! The SVG and the HTML page share their layout ([`layout`]): the same column per host, the
//! same rows, the same colours.

#![warn(missing_docs)]

mod dot;
mod html;
mod json;
pub mod layout;
mod model;
mod perfetto;
mod shiviz;
mod svg;
pub mod text;

use std::fmt;
use std::str::FromStr;

pub use dot::dot;
pub use html::html;
pub use json::json;
pub use layout::Rows;
pub use model::{host_name, Ev, Host, Link, Model, Node, Peer};
pub use perfetto::perfetto;
pub use shiviz::{shiviz, SHIVIZ_REGEX};
pub use svg::svg;

/// An export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A ShiViz log (text).
    Shiviz,
    /// Graphviz source (text).
    Dot,
    /// The space-time diagram as SVG, laid out by bop (no Graphviz).
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

/// Renders `model` in `format`. `title` names the trace (the page title, the graph label).
/// The SVG has one row per event ([`Rows::Id`]); [`svg()`] takes the layout.
pub fn render(model: &Model, format: Format, title: &str) -> Vec<u8> {
    match format {
        Format::Shiviz => shiviz(model),
        Format::Dot => dot(model, title),
        Format::Svg => svg(model, title, Rows::Id),
        Format::Perfetto => perfetto(model, title),
        Format::Html => html(model, title),
        Format::Json => json(model, title),
    }
    .into_bytes()
}

#[cfg(test)]
mod tests;
