//! Name resolution, types and sizes: AST to core IR.
