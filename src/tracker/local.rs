//! The local Markdown tracker: one file per ticket under `.csm/tickets/`.
//! (Being written; see the foundation issue.)
