-- rel_groups: one row per wave x group (wide layout) with respondents, roster headcount and the
-- response rate, BEFORE confidentiality (pipelines/release/privacy.py). Same grouping sets as
-- rel_metrics, so the two tables describe the same groups and suppress them identically.
--
-- Roster choice per survey wave: the latest roster uploaded for that wave, else the latest roster
-- whose wave is NULL (applies to all waves). No roster: headcount and response_rate are NULL.

with

source_responses as (
    select wave, site, department, role from responses
),

source_headcount as (
    select upload_id, wave, site, department, role, headcount from headcount
),

source_uploads as (
    select upload_id, uploaded_at from uploads
),

waves as (
    select distinct wave from source_responses
),

roster_uploads as (
    select
        h.upload_id,
        h.wave,
        max(u.uploaded_at) as uploaded_at
    from source_headcount as h
    left join source_uploads as u on u.upload_id = h.upload_id
    group by h.upload_id, h.wave
),

chosen as (
    select
        w.wave,
        (
            select r.upload_id
            from roster_uploads as r
            where r.wave = w.wave or r.wave is null
            order by (r.wave is null), r.uploaded_at desc nulls last, r.upload_id desc
            limit 1
        ) as upload_id,
        (
            select r.wave
            from roster_uploads as r
            where r.wave = w.wave or r.wave is null
            order by (r.wave is null), r.uploaded_at desc nulls last, r.upload_id desc
            limit 1
        ) as roster_wave
    from waves as w
),

roster as (
    select
        c.wave,
        h.site,
        h.department,
        h.role,
        h.headcount
    from chosen as c
    inner join source_headcount as h
        on h.upload_id = c.upload_id and h.wave is not distinct from c.roster_wave
),

respondents as (
    select
        wave,
        site,
        department,
        role,
        grouping_id(site, department, role) as grouping_bits,
        count(*) as n
    from source_responses
    group by {{ grouping_sets }}
),

roster_groups as (
    select
        wave,
        site,
        department,
        role,
        grouping_id(site, department, role) as grouping_bits,
        sum(headcount) as headcount
    from roster
    group by {{ grouping_sets }}
),

final as (
    select
        r.wave,
        case r.grouping_bits
            when 7 then 'organisation'
            when 3 then 'site'
            when 1 then 'department'
            when 6 then 'role'
            when 2 then 'site_role'
            when 0 then 'department_role'
        end as level,
        r.site,
        r.department,
        r.role,
        r.n,
        g.headcount,
        r.n / nullif(g.headcount, 0) as response_rate
    from respondents as r
    left join roster_groups as g
        on
            g.wave = r.wave
            and g.grouping_bits = r.grouping_bits
            and g.site is not distinct from r.site
            and g.department is not distinct from r.department
            and g.role is not distinct from r.role
)

select * from final
