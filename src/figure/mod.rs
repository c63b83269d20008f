//! Annotated figures (SVG, PNG, PDF) from one rendering description shared with the app.
