"""Reading: find the inputs, tell their format, batch them, and read each format into rows or say why not."""
