//! The full set of CustomResourceDefinitions, in a stable order.
