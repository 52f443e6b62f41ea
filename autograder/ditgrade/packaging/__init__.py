"""What instructors hand out: the generated notebooks and reference, the release gates, Gradescope's zip."""
