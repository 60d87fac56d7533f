/*
 * storage/walrec.h — the payloads of WAL records (the record frame itself is
 * storage/wal_format.h). Encoded by storage/stor.c; decoded by the same file
 * at live apply and at replay (one code path). Format version 1.
 *
 * uvarint = unsigned LEB128; svarint = zigzag then uvarint.
 *
 * WRITE record (WAL type 1):
 *   u8       version = 1
 *   uvarint  db_id
 *   uvarint  db name length, db name bytes   (replay can define the db)
 *   uvarint  nseries;  nseries x { uvarint series_id, uvarint key_len, key }
 *                      (canonical series key, storage/sindex.h)
 *   uvarint  nfields;  nfields x { uvarint field_id, uvarint mlen, measurement,
 *                      uvarint klen, field key, u8 type (st_type) }
 *   points, until the end of the payload:
 *     uvarint series_id
 *     svarint ts delta (ns; from the previous point of this record, the first from 0)
 *     uvarint quality (OPC UA StatusCode)
 *     uvarint nvalues; nvalues x { uvarint field_id, u8 type, value }
 *       value: float = 8 bytes little-endian IEEE 754 bits; int = svarint;
 *              uint = uvarint; bool = u8 0/1; string = uvarint len, bytes
 *
 *   Definitions precede every point of the record that uses them. A record
 *   carries the definition of every series/field it uses that was not yet
 *   durable when the record was built (duplicates are idempotent).
 *
 * DELETE record (WAL type 2):
 *   u8 version = 1, u8 op, uvarint db_id, then
 *     op 1 (drop series):      uvarint n, n x uvarint series_id
 *     op 2 (drop measurement): uvarint length, measurement
 *     op 4 (delete a time range): uvarint n, n x uvarint series_id,
 *                              svarint tmin_ns, svarint tmax_ns (inclusive)
 *   Applied at once to the index and the heads; segment files keep the
 *   bytes until compaction, which drops series the index no longer has.
 *
 * SCHEMA record (WAL type 3):
 *   u8 version = 1, u8 op (1 = create database, 2 = drop database,
 *   3 = set retention), uvarint db_id, uvarint name length, name,
 *   uvarint rp name length, rp name, svarint rp_duration_ns,
 *   svarint shard_duration_ns, svarint created_ns
 */
#ifndef ST_WALREC_H
#define ST_WALREC_H

#define WALREC_VERSION 1
enum { WALREC_SCHEMA_DB_CREATE = 1, WALREC_SCHEMA_DB_DROP = 2, WALREC_SCHEMA_DB_RETENTION = 3 };
enum { WALREC_DELETE_SERIES = 1, WALREC_DELETE_MEASUREMENT = 2, WALREC_DELETE_RANGE = 4 };
/* Catalog job only (never in the WAL): explicit series and field ids. */
enum { WALREC_DELETE_IDS = 3 };

#endif
