package recordstore

// RecordKey is the object-store key of a record's object, for tools that
// copy the store (`liaison backup`) and must re-read a record that changed
// while they copied.
func RecordKey(id string) string { return recordKey(id) }
