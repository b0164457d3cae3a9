"""Volunteer service records and certificates of the teachers (志愿服务记录与证明).

The programme's teachers are volunteers. What the hub keeps for them follows the Ministry of
Civil Affairs' 《志愿服务记录与证明出具办法（试行）》 (民政部令第67号, adopted 2020-11-26,
in force since 2021-02-01):

- 第二条: a volunteer service *record* (志愿服务记录) is what an organisation records of a
  volunteer's service, in an information system or on paper; a *certificate* (志愿服务记录证明)
  is a document the organisation makes from that record. Here: ``ledger`` is the record,
  ``certificates`` makes the certificate.
- 第三条: records and certificates are true, accurate, complete, free of charge and timely
  (真实、准确、完整、无偿、及时). Hence class hours come from what the streams did (live to end,
  ``ledger.class_seconds``), not from what anyone types, and every change of the record is kept
  in an append-only audit log (``audit``).
- 第四条: a record holds the volunteer's basic information (个人基本信息), service
  (志愿服务情况: time, content, hours), training (培训情况), awards (表彰奖励情况) and
  evaluation (评价情况); records kept in other systems are to be entered into the system the
  Ministry designates (the national volunteer information system). ``profile`` holds the basic
  information and the dated awards and evaluations; ``ledger`` the service and training;
  ``exports`` writes them as CSV/XLSX for entry into the national or a city system.
- Service time is the time actually served, in hours, without travel (不包括往返交通时间):
  a class counts its on-air time only, bounded by its slot; a teaching visit is entered by an
  administrator with the hours served on site.
- A volunteer who finds their record wrong or incomplete may ask the organisation to correct
  it, and the organisation checks and corrects it in time: ``corrections``.
- A certificate states the volunteer's identity, the time and content of the service, the
  issuing organisation with its contact, a number and a date: ``certificates``.

Articles 2-4 are quoted from the published text; the points on travel time, corrections and
the certificate's content are the order's provisions as summarised in the Ministry's
announcement of 2021-01-25 (their article numbers are not repeated here).

The hub never stores a national ID number (居民身份证号码): the volunteer is identified by the
volunteer number (志愿者编号) of the national or city system (``profile.refuse_id_number``).
"""
