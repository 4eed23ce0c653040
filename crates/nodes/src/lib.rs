//! Sans-IO node state machines.
