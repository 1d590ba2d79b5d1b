-- One row per loaded hour of every table: the manifests the loader keeps in the lake.
SELECT
    project::BIGINT AS project_id,
    "table" AS table_name,
    strptime(hour, '%Y-%m-%dT%H') AS upload_hour,
    rows,
    lines_read,
    rejects,
    bytes_downloaded,
    bytes_json,
    bytes_parquet,
    request->>'id' AS request_id,
    strptime(request->>'first_hour', '%Y-%m-%dT%H') AS request_first_hour,
    strptime(request->>'last_hour', '%Y-%m-%dT%H') AS request_last_hour,
    request->>'zip_sha256' AS zip_sha256,
    content_sha256,
    schema_version,
    loader_version,
    replace(loaded_at, '+00:00', '')::TIMESTAMP AS loaded_at,  -- written in UTC
    seconds,
    extra
FROM read_json(
    {manifest_files},
    format = 'auto',
    columns = {
        project: 'VARCHAR', "table": 'VARCHAR', hour: 'VARCHAR', rows: 'BIGINT',
        lines_read: 'BIGINT', rejects: 'BIGINT', bytes_downloaded: 'BIGINT', bytes_json: 'BIGINT',
        bytes_parquet: 'BIGINT', request: 'JSON', content_sha256: 'VARCHAR',
        schema_version: 'INTEGER', loader_version: 'VARCHAR', loaded_at: 'VARCHAR',
        seconds: 'JSON', extra: 'JSON'
    }
)
