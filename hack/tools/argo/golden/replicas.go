package main

// writeReplicas writes replicas.json into dir (filled in by the replica-arithmetic work).
func writeReplicas(dir string) error { return nil }
