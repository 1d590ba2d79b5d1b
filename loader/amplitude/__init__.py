"""Everything that is specific to Amplitude: endpoints, export layout, event schema."""
